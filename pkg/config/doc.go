// Package config is the one place that reads configuration: defaults (Keys) < config.yaml (or
// --config FILE) < CHATBOT_* environment < command-line flags named after the keys. It is the
// project's only viper user.
package config
