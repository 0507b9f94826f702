// Command redistest starts throwaway Redis servers on free loopback ports, as the tests do
// (internal/redistest), for a shell or a script:
//
//	go run ./internal/redistest/cmd/redistest [-cluster]               # print the URLs, wait for Ctrl-C
//	go run ./internal/redistest/cmd/redistest [-cluster] -- CMD ARGS   # run CMD with the URLs set
//
// It starts a single node (CHATBOT_TEST_REDIS_URL) and with -cluster a 6-node Redis Cluster
// (CHATBOT_TEST_REDIS_CLUSTER_URL). With a command, it runs it with those variables in its
// environment and in a process group of its own, passes SIGINT and SIGTERM on to that group,
// stops the servers when the command ends and exits with its status. Without one, it prints
// the variables (export lines, for eval) and waits for SIGINT or SIGTERM. The servers are
// stopped however it ends; on Linux the kernel kills them even if it is killed with SIGKILL.
// `go test` started with these variables set uses these servers instead of its own.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"chatbot/internal/redistest"
)

func main() {
	os.Exit(run())
}

func run() int {
	cluster := flag.Bool("cluster", false, "start a 6-node Redis Cluster too")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: redistest [-cluster] [-- CMD [ARGS...]]\n")
		flag.PrintDefaults()
	}
	flag.Parse()

	// Catch the signals before anything is started, so the servers are always stopped.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)

	single, err := redistest.StartNode(redistest.Options{Name: "single"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer single.Stop()
	vars := []string{redistest.EnvSingle + "=" + single.URL()}
	if *cluster {
		c, err := redistest.StartCluster(redistest.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Stop()
		vars = append(vars, redistest.EnvCluster+"="+c.URL())
	}

	if flag.NArg() == 0 {
		for _, v := range vars {
			fmt.Printf("export %s\n", v)
		}
		fmt.Fprintln(os.Stderr, "redistest: servers running; Ctrl-C stops them")
		<-sigs
		return 0
	}

	select {
	case <-sigs: // while the servers started
		return 130
	default:
	}
	cmd := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), vars...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "redistest:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
		case err := <-exited:
			var exit *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &exit) && exit.ExitCode() >= 0:
				return exit.ExitCode()
			case errors.As(err, &exit):
				return 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
			default:
				fmt.Fprintln(os.Stderr, "redistest:", err)
				return 1
			}
		}
	}
}
