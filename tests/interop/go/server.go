package main

// The server: lime-go's Server does the transport, negotiation (TLS upgrade in band),
// authentication and node registration (its default Register gives every session a new uuid
// instance). lime-go has no router, so this file adds the smallest one: it forwards envelopes to the
// session of their `to` node (or any session of that identity), stamps `from`, answers `get /ping`
// addressed to the server, and fails messages/commands to unknown nodes with reason 42 (as C# does).

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	lime "github.com/takenet/lime-go"
)

type router struct {
	mu       sync.Mutex
	sessions map[string]*lime.ServerChannel // session id -> channel
}

func (r *router) find(to lime.Node) *lime.ServerChannel {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.sessions {
		n := c.RemoteNode()
		if strings.EqualFold(n.Identity.String(), to.Identity.String()) &&
			(to.Instance == "" || strings.EqualFold(n.Instance, to.Instance)) {
			return c
		}
	}
	return nil
}

var notFound = &lime.Reason{Code: 42, Description: "The destination was not found"}

func loadUsers(path string) (map[string]string, error) {
	users := map[string]string{}
	if path == "" {
		return users, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && !strings.HasPrefix(fields[0], "#") && fields[1] == "plain" {
			users[strings.ToLower(fields[0])] = fields[2]
		}
	}
	return users, sc.Err()
}

// freePort asks the kernel for a free port: lime-go's listeners bind inside ListenAndServe and do
// not report the address they got.
func freePort(addr string) (*net.TCPAddr, error) {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil || a.Port != 0 {
		return a, err
	}
	l, err := net.ListenTCP("tcp", a)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr), nil
}

func runServer(argv []string) int {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	tcp := fs.String("tcp", "127.0.0.1:0", "TCP listen address")
	cert := fs.String("cert", "", "certificate (PEM): offer tls during negotiation")
	key := fs.String("key", "", "private key (PEM)")
	usersFile := fs.String("users", "", "lines `identity plain password`")
	_ = fs.Parse(argv)

	users, err := loadUsers(*usersFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr, err := freePort(*tcp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	conf := &lime.TCPConfig{TraceWriter: newTracer()}
	encryption := []lime.SessionEncryption{lime.SessionEncryptionNone}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		conf.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
		encryption = append(encryption, lime.SessionEncryptionTLS)
	}

	r := &router{sessions: map[string]*lime.ServerChannel{}}
	server := lime.NewServerBuilder().
		Name("postmaster").Domain("localhost").Instance("lime-go").
		ListenTCP(addr, conf).
		EncryptionOptions(encryption...).
		EnableGuestAuthentication(). // lime-go: guest names must be uuids
		EnablePlainAuthentication(func(_ context.Context, id lime.Identity, password string) (*lime.AuthenticationResult, error) {
			if p, ok := users[strings.ToLower(id.String())]; ok && p == password {
				return lime.MemberAuthenticationResult(), nil
			}
			return lime.UnknownAuthenticationResult(), nil
		}).
		Established(func(id string, c *lime.ServerChannel) {
			r.mu.Lock()
			r.sessions[id] = c
			r.mu.Unlock()
		}).
		Finished(func(id string) {
			r.mu.Lock()
			delete(r.sessions, id)
			r.mu.Unlock()
		}).
		MessagesHandlerFunc(func(ctx context.Context, m *lime.Message, s lime.Sender) error {
			m.From, _ = lime.ContextSessionRemoteNode(ctx)
			if dest := r.find(m.To); dest != nil {
				return dest.SendMessage(ctx, m)
			}
			if m.ID == "" {
				return nil
			}
			return s.SendNotification(ctx, m.FailedNotification(notFound))
		}).
		NotificationsHandlerFunc(func(ctx context.Context, n *lime.Notification) error {
			n.From, _ = lime.ContextSessionRemoteNode(ctx)
			if dest := r.find(n.To); dest != nil {
				return dest.SendNotification(ctx, n)
			}
			return nil
		}).
		RequestCommandsHandlerFunc(func(ctx context.Context, cmd *lime.RequestCommand, s lime.Sender) error {
			if cmd.To == (lime.Node{}) || strings.EqualFold(cmd.To.Identity.String(), "postmaster@localhost") {
				if cmd.Method == lime.CommandMethodGet && cmd.URI != nil && cmd.URI.Path() == "/ping" {
					return s.SendResponseCommand(ctx, cmd.SuccessResponseWithResource(&lime.Ping{}))
				}
				return s.SendResponseCommand(ctx, cmd.FailureResponse(
					&lime.Reason{Code: 61, Description: "Unsupported resource"}))
			}
			cmd.From, _ = lime.ContextSessionRemoteNode(ctx)
			if dest := r.find(cmd.To); dest != nil {
				return dest.SendRequestCommand(ctx, cmd)
			}
			return s.SendResponseCommand(ctx, cmd.FailureResponse(notFound))
		}).
		ResponseCommandsHandlerFunc(func(ctx context.Context, cmd *lime.ResponseCommand, _ lime.Sender) error {
			cmd.From, _ = lime.ContextSessionRemoteNode(ctx)
			if dest := r.find(cmd.To); dest != nil {
				return dest.SendResponseCommand(ctx, cmd)
			}
			return nil
		}).
		Build()

	served := make(chan error, 1)
	go func() { served <- server.ListenAndServe() }()

	// Announce the address once it accepts connections (bounded; no fixed delay).
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			conn.Close()
			break
		}
		select {
		case err := <-served:
			fmt.Fprintln(os.Stderr, "lime-go server:", err)
			return 1
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "lime-go server: not accepting connections")
			return 1
		}
	}
	fmt.Printf("lime-go server: listening on net.tcp://%s\n", addr)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sigs:
		_ = server.Close()
		<-served
		return 0
	case err := <-served:
		if errors.Is(err, lime.ErrServerClosed) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "lime-go server:", err)
		return 1
	}
}
