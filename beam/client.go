// Package beam talks to the local BEAM node over Erlang distribution: rpc
// calls through the node's rex server, the release_handler operations, and
// reading releases on disk and in tarballs.
package beam

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ergo-services/ergo"
	"github.com/ergo-services/ergo/etf"
	"github.com/ergo-services/ergo/gen"
	"github.com/ergo-services/ergo/node"
	"github.com/ergo-services/ergo/proto/dist"

	"github.com/beamup/beamup/otprel"
)

// ErrNodeDown is returned by calls that were under way when the connection
// to the node went down, and by calls to a node that cannot be reached.
var ErrNodeDown = errors.New("node down")

// Options say how to reach the node.
type Options struct {
	// Node is the node's full name, such as app@127.0.0.1.
	Node string
	// Cookie is the distribution cookie. It is never logged.
	Cookie string
	// EPMDPort is the port of the epmd that knows the node (default 4369).
	EPMDPort int
	// CallTimeout bounds a call whose context has no deadline (default 30s).
	CallTimeout time.Duration
}

// Client is a hidden Go node connected to one BEAM node. It is safe for
// concurrent use.
type Client struct {
	opts    Options
	node    node.Node
	proc    gen.Process
	mu      sync.Mutex
	pending map[etf.Ref]chan result
}

type result struct {
	term etf.Term
}

func init() {
	// ergo prints warnings of its own to stderr (for instance when it drops
	// map keys it cannot represent); beamup reports errors itself.
	flag.Set("ergo.warning", "false")
}

// The Go side of distribution is one hidden ergo node per process, shared
// by every Client: ergo keeps per-node state in package variables, so two
// ergo nodes in one process race.
var (
	sharedMu  sync.Mutex
	shared    node.Node
	registrar = &resolveOnly{ports: map[string]int{}, routed: map[string]bool{}}
)

// goNode starts the shared node on first use. Its name takes the host part
// of the first node dialled, so that long and short names match.
func goNode(host, cookie string) (node.Node, error) {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared != nil {
		return shared, nil
	}
	// ergo v1.999.224 decodes a connection's header atom cache from as
	// many receiver goroutines as there are CPUs, without a lock (go test
	// -race shows it), and several receivers may reorder messages. One
	// receiver per connection does neither; turning the cache off instead
	// breaks ergo's framing with OTP 25.
	proto := node.DefaultProtoOptions()
	proto.NumHandlers = 1
	opts := node.Options{
		Proto:     dist.CreateProto(proto),
		Listeners: []node.Listener{{Hostname: "127.0.0.1", ListenBegin: 15000, ListenEnd: 65000}},
		// OTP 25 refuses ergo's default handshake version 5.
		Handshake: dist.CreateHandshake(dist.HandshakeOptions{Version: dist.HandshakeVersion6}),
		Registrar: registrar,
	}
	name := fmt.Sprintf("beamup%d_%d@%s", os.Getpid(), time.Now().UnixNano()%1e6, host)
	// The node lives as long as the process: it is not tied to the
	// context of the first Dial. It is started without ergo's default
	// applications: their metrics gatherer reads connection counters
	// without synchronisation and sends anonymous usage reports, and a
	// client needs neither that nor Go stand-ins for net_kernel and rex.
	opts.Env = map[gen.EnvKey]interface{}{
		node.EnvKeyVersion: node.Version{Release: ergo.Version, Prefix: ergo.VersionPrefix, OTP: ergo.VersionOTP},
	}
	n, err := node.StartWithContext(context.Background(), name, cookie, opts)
	if err != nil {
		return nil, fmt.Errorf("starting the distribution client: %w", err)
	}
	shared = n
	return n, nil
}

// Dial connects to opts.Node. The Go node listens on loopback only, never
// starts an epmd of its own, and sends opts.Cookie to this node only.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if opts.EPMDPort == 0 {
		opts.EPMDPort = 4369
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 30 * time.Second
	}
	_, host, ok := strings.Cut(opts.Node, "@")
	if !ok || host == "" {
		return nil, fmt.Errorf("node name %q: want name@host", opts.Node)
	}
	n, err := goNode(host, opts.Cookie)
	if err != nil {
		return nil, err
	}
	if err := registrar.route(n, opts); err != nil {
		return nil, err
	}
	c := &Client{opts: opts, node: n, pending: map[etf.Ref]chan result{}}
	c.proc, err = n.Spawn("", gen.ProcessOptions{}, &mailbox{c: c})
	if err != nil {
		return nil, fmt.Errorf("starting the distribution client: %w", err)
	}
	return c, nil
}

// Close stops the client's process; the shared Go node stays.
func (c *Client) Close() {
	c.proc.Kill()
}

// Call runs rpc:call(Node, mod, fun, args) through the node's rex server and
// returns its result. A {badrpc, Reason} answer is an error. Call honours
// ctx and bounds every call: a node that does not answer is an error, not a
// hang.
func (c *Client) Call(ctx context.Context, mod, fun string, args ...etf.Term) (etf.Term, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	ref := c.proc.MakeRef()
	ch := make(chan result, 1)
	c.mu.Lock()
	c.pending[ref] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, ref)
		c.mu.Unlock()
	}()

	self := c.proc.Self()
	if args == nil {
		args = []etf.Term{}
	}
	// The Go process is the call's group leader: it answers io requests so
	// that a function that prints does not hang the call.
	req := etf.Tuple{etf.Atom("call"), etf.Atom(mod), etf.Atom(fun), etf.List(args), self}
	msg := etf.Tuple{etf.Atom("$gen_call"), etf.Tuple{self, ref}, req}
	if err := c.proc.Send(gen.ProcessID{Name: "rex", Node: c.opts.Node}, msg); err != nil {
		return nil, fmt.Errorf("%s:%s on %s: %w: %v", mod, fun, c.opts.Node, ErrNodeDown, err)
	}
	// A node that goes away while the call is under way is seen by its
	// connection going. Not with ergo's node monitors: a monitor set up
	// as a connection dies reads and deletes one map from two goroutines
	// under a read lock, which can crash the process.
	poll := time.NewTicker(nodeDownPoll)
	defer poll.Stop()
	for {
		select {
		case r := <-ch:
			if t, ok := r.term.(etf.Tuple); ok && len(t) == 2 && t[0] == etf.Atom("badrpc") {
				if reason := fmt.Sprint(t[1]); reason == "nodedown" {
					return nil, fmt.Errorf("%s:%s on %s: %w", mod, fun, c.opts.Node, ErrNodeDown)
				}
				return nil, fmt.Errorf("%s:%s on %s: badrpc: %s", mod, fun, c.opts.Node, otprel.Format(t[1]))
			}
			return r.term, nil
		case <-poll.C:
			if !slices.Contains(c.node.Nodes(), c.opts.Node) {
				return nil, fmt.Errorf("%s:%s on %s: %w", mod, fun, c.opts.Node, ErrNodeDown)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%s:%s on %s: %w", mod, fun, c.opts.Node, ctx.Err())
		}
	}
}

// nodeDownPoll is how often a call under way checks that the node is
// still connected.
const nodeDownPoll = 50 * time.Millisecond

func (c *Client) deliver(ref etf.Ref, term etf.Term) {
	c.mu.Lock()
	ch, ok := c.pending[ref]
	delete(c.pending, ref)
	c.mu.Unlock()
	if ok {
		ch <- result{term: term}
	}
}

// mailbox is the Go process: it receives rpc replies, node-down
// notifications and io requests.
type mailbox struct {
	gen.Server
	c *Client
}

func (m *mailbox) HandleInfo(p *gen.ServerProcess, message etf.Term) gen.ServerStatus {
	switch msg := message.(type) {
	case etf.Tuple:
		if len(msg) == 2 {
			if ref, ok := msg[0].(etf.Ref); ok {
				m.c.deliver(ref, msg[1])
			}
		}
		// {io_request, From, ReplyAs, Request}: output is dropped, input
		// is refused.
		if len(msg) == 4 && msg[0] == etf.Atom("io_request") {
			if from, ok := msg[1].(etf.Pid); ok {
				reply := etf.Term(etf.Atom("ok"))
				if req, ok := msg[3].(etf.Tuple); ok && len(req) > 0 && strings.HasPrefix(fmt.Sprint(req[0]), "get_") {
					reply = etf.Tuple{etf.Atom("error"), etf.Atom("enotsup")}
				}
				p.Send(from, etf.Tuple{etf.Atom("io_reply"), msg[2], reply})
			}
		}
	}
	return gen.ServerStatusOK
}

// resolveOnly looks nodes up in epmd but registers nothing there and never
// starts an epmd of its own: the Go node only dials out, and must never take
// the epmd port that the BEAM node's epmd needs. Each node is looked up in
// the epmd on its own port.
type resolveOnly struct {
	node.Registrar            // the methods not overridden here are never used
	mu             sync.Mutex // guards ports; taken by Resolve under ergo's locks
	ports          map[string]int
	routeMu        sync.Mutex // guards routed; held while calling ergo
	routed         map[string]bool
}

// route sets how to reach opts.Node: its epmd port and its cookie. Routes
// are set once per node: changing a route drops the node's connection.
// ergo calls Resolve with its own locks held, so r.mu is never held while
// calling into ergo: routeMu orders the route changes instead.
func (r *resolveOnly) route(n node.Node, opts Options) error {
	r.routeMu.Lock()
	defer r.routeMu.Unlock()
	if r.routed[opts.Node] {
		return nil
	}
	r.mu.Lock()
	r.ports[opts.Node] = opts.EPMDPort
	r.mu.Unlock()
	if err := n.AddStaticRouteOptions(opts.Node, node.RouteOptions{Cookie: opts.Cookie}); err != nil {
		return fmt.Errorf("routing to %s: %w", opts.Node, err)
	}
	r.routed[opts.Node] = true
	return nil
}

func (r *resolveOnly) Register(ctx context.Context, name string, opts node.RegisterOptions) error {
	return nil
}

func (r *resolveOnly) Resolve(nodeName string) (node.Route, error) {
	_, host, _ := strings.Cut(nodeName, "@")
	r.mu.Lock()
	port := r.ports[nodeName]
	r.mu.Unlock()
	if port == 0 {
		port = 4369
	}
	return dist.CreateRegistrarWithRemoteEPMD(host, uint16(port)).Resolve(nodeName)
}

func (r *resolveOnly) ResolveProxy(string) (node.ProxyRoute, error) {
	return node.ProxyRoute{}, fmt.Errorf("no proxy routes")
}
