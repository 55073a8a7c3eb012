// Command duet-cluster runs a local Duet cluster to try scale-out: NATS with
// JetStream (embedded, from the nats-server module), two bin/duet nodes over
// it and nginx in front with the reference configuration
// (server/cmd/duet/nginx.conf). `go tool task cluster` builds and runs it.
//
//	duet-cluster -bin bin/duet -nginx-conf server/cmd/duet/nginx.conf
//
// Open the printed URL, kill a node (its pid is printed) and watch the
// clients carry on through the other one. Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/duet-rt/duet/server/natsbroker/internal/cluster"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "duet-cluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("duet-cluster", flag.ContinueOnError)
	bin := fs.String("bin", "bin/duet", "the duet binary")
	conf := fs.String("nginx-conf", "server/cmd/duet/nginx.conf", "the reference nginx configuration")
	nginx := fs.String("nginx", "nginx", "the nginx binary")
	port := fs.Int("port", 8080, "nginx's port on 127.0.0.1 (0: any free port)")
	nodePorts := fs.String("node-ports", "8081,8082", "the two nodes' ports (0: any free port)")
	natsPort := fs.Int("nats-port", 4222, "NATS's port on 127.0.0.1 (0: any free port)")
	dir := fs.String("dir", "", "directory for the NATS store and nginx's files (default: a temporary directory, removed on exit)")
	verbose := fs.Bool("v", false, "verbose: node connection logs and NATS logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports := strings.Split(*nodePorts, ",")
	if len(ports) != 2 {
		return errors.New("-node-ports takes two ports")
	}
	cfg := cluster.Config{
		Dir:       *dir,
		Bin:       *bin,
		NginxConf: *conf,
		Nginx:     *nginx,
		Port:      *port,
		NATSPort:  *natsPort,
		Output:    os.Stderr,
		NATSLogs:  *verbose,
	}
	for i, p := range ports {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("-node-ports: %w", err)
		}
		cfg.NodePorts[i] = n
	}
	if *verbose {
		cfg.NodeArgs = []string{"-v"}
	}
	if cfg.Dir == "" {
		tmp, err := os.MkdirTemp("", "duet-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg.Dir = tmp
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := cluster.Start(startCtx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, `
duet-cluster: running
  open      %s/            (nginx, round robin over both nodes)
  node 1    %s   pid %d
  node 2    %s   pid %d
  NATS      %s
Kill a node (kill -9 PID) and the clients reconnect through the other one.
Ctrl-C stops everything.

`, c.URL(), c.NodeURL(0), c.NodePID(0), c.NodeURL(1), c.NodePID(1), c.NATS.URL())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "duet-cluster: stopping")
	return c.Close()
}
