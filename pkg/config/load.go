package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment variable: redis.url is CHATBOT_REDIS_URL.
const EnvPrefix = "CHATBOT"

// DefaultFile is read when no --config is given and it exists in the working directory.
const DefaultFile = "config.yaml"

// AddFlags registers --config and one flag per key (--redis.url, ...) on fs.
func AddFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "config file (default ./"+DefaultFile+" when present)")
	for _, k := range Keys {
		switch d := k.Default.(type) {
		case string:
			fs.String(k.Name, d, k.Help)
		case int:
			fs.Int(k.Name, d, k.Help)
		case bool:
			fs.Bool(k.Name, d, k.Help)
		case float64:
			fs.Float64(k.Name, d, k.Help)
		case time.Duration:
			fs.Duration(k.Name, d, k.Help)
		case []string:
			fs.StringSlice(k.Name, d, k.Help)
		default:
			panic(fmt.Sprintf("config: key %s has a default of unsupported type %T", k.Name, d))
		}
	}
}

// Load builds the Config: defaults < config file < CHATBOT_* environment < flags that were set.
// fs may be nil. The file is --config when given (it must exist), else ./config.yaml when present.
// Unknown keys in the file are an error. The result is validated.
func Load(fs *pflag.FlagSet) (*Config, error) {
	v := viper.New()
	for _, k := range Keys {
		v.SetDefault(k.Name, k.Default)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	file := ""
	if fs != nil {
		if f := fs.Lookup("config"); f != nil {
			file = f.Value.String()
		}
	}
	if file == "" {
		if env := os.Getenv(EnvPrefix + "_CONFIG"); env != "" {
			file = env
		} else if _, err := os.Stat(DefaultFile); err == nil {
			file = DefaultFile
		}
	}
	if file != "" {
		v.SetConfigFile(file)
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("read config %s: %w", file, err)
		}
		if err := checkUnknown(v); err != nil {
			return nil, fmt.Errorf("config %s: %w", file, err)
		}
	}
	if fs != nil {
		for _, k := range Keys {
			if f := fs.Lookup(k.Name); f != nil {
				if err := v.BindPFlag(k.Name, f); err != nil {
					return nil, fmt.Errorf("bind flag %s: %w", k.Name, err)
				}
			}
		}
	}

	var c Config
	hook := mapstructure.ComposeDecodeHookFunc(
		mapstructure.StringToTimeDurationHookFunc(),
		mapstructure.StringToSliceHookFunc(","),
	)
	if err := v.Unmarshal(&c, viper.DecodeHook(hook)); err != nil {
		return nil, fmt.Errorf("config: %s", tidyDecodeError(err))
	}
	c.Server.AllowedOrigins = trimAll(c.Server.AllowedOrigins)
	c.Server.FrameAncestors = trimAll(c.Server.FrameAncestors)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// checkUnknown reports every key in the config file that is not in Keys.
func checkUnknown(v *viper.Viper) error {
	known := make(map[string]bool, len(Keys))
	sections := map[string]bool{}
	for _, k := range Keys {
		known[k.Name] = true
		sections[k.Name[:strings.IndexByte(k.Name, '.')]] = true
	}
	var errs []error
	for _, key := range fileKeys(v) {
		if !known[key] {
			errs = append(errs, fmt.Errorf("unknown key %q", key))
		}
	}
	return errors.Join(errs...)
}

// fileKeys lists the dotted keys the config file set, leaves only.
func fileKeys(v *viper.Viper) []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			if sub, ok := val.(map[string]any); ok && prefix == "" {
				walk(name, sub)
				continue
			}
			out = append(out, name)
		}
	}
	// viper keeps the file's tree under the config layer; AllSettings mixes in defaults, so read
	// the raw file keys through a fresh viper of the same file.
	raw := viper.New()
	raw.SetConfigFile(v.ConfigFileUsed())
	raw.SetConfigType("yaml")
	if err := raw.ReadInConfig(); err != nil {
		return nil
	}
	walk("", raw.AllSettings())
	return out
}

func trimAll(in []string) []string {
	out := in[:0]
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// tidyDecodeError turns mapstructure's multi-line report into one line per bad key.
func tidyDecodeError(err error) string {
	msg := strings.TrimPrefix(err.Error(), "decoding failed due to the following error(s):")
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, strings.ReplaceAll(l, "'", ""))
		}
	}
	return strings.Join(lines, "; ")
}
