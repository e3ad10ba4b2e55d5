package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/nslab/nslab/web"
	"github.com/spf13/cobra"
)

func newWeb() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:         "web",
		Annotations: privileged(),
		Short:       "Serve a live view of the running labs to a browser",
		Long: `Serve a page that shows every running lab live: its topology laid out,
each cable's state and traffic (from the kernel's counters, sent every
second), shapes, partitions, services and the labs' events. A click on a
node shows its interfaces, addresses, routes and processes; a click on a
cable shows both ends and their counters, and cuts or joins it (under the
lab's lock, as nslab link down and up).

nslab web listens on loopback unless --listen says otherwise, and prints
the address to open, which carries a random token: every request must
carry it (the page keeps it in the tab, not in a cookie), name nslab's
address as its Host and, if it says where it comes from, come from
nslab's own page. It runs until Ctrl-C.`,
		Example: `  sudo nslab web
  sudo nslab web --listen 127.0.0.1:7070`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listening on %s: %w (give another address with --listen 127.0.0.1:PORT)", listen, err)
			}
			addr := ln.Addr().String()
			s, err := web.New(addr, web.Config{Logf: logf})
			if err != nil {
				ln.Close()
				return err
			}
			if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
				logf("listening on %s, not loopback only: anyone who can reach it and has the token drives the labs", addr)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go s.Run(ctx)
			srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-ctx.Done()
				sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
				defer c()
				srv.Shutdown(sctx)
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "nslab web: open http://%s/?token=%s\n(Ctrl-C stops)\n", addr, s.Token)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7070", "address to listen on (host:port; port 0 picks a free one)")
	return cmd
}
