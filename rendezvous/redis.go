package rendezvous

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deskport/deskport/signaling"
)

// What the instances keep in Redis (docs/cluster.md):
//
//	deskport:host:<host ID>   string, the instance holding the host's socket; TTL presenceTTL,
//	                          renewed every presenceRefresh by that instance
//	deskport:seen             sorted set, host ID scored by the Unix milliseconds it was last
//	                          seen online; trimmed to MaxKnownHosts
//	deskport:alive:<instance> "1" while the instance runs; TTL presenceTTL, renewed with its hosts
//	deskport:inst:<instance>  pub/sub channel of each instance (envelopes, cluster.go)
const (
	keyHost     = "deskport:host:"
	keySeen     = "deskport:seen"
	keyAlive    = "deskport:alive:"
	chanInst    = "deskport:inst:"
	presenceTTL = 15 * time.Second
	// presenceRefresh is how often an instance renews its hosts' presence and "last seen";
	// after a failed round trip it retries every redisRetry, so that it re-publishes its hosts
	// soon after Redis comes back (empty, if it lost its data).
	presenceRefresh = 5 * time.Second
	redisRetry      = time.Second
	redisTimeout    = 2 * time.Second
	// busQueue bounds the envelopes waiting to be published; beyond, they are dropped (their
	// sessions expire) rather than hold memory while Redis is away.
	busQueue = 4096
	busBatch = 256
)

var (
	// claimScript takes a host for this instance and returns the instance that held it, if any.
	claimScript = `local old = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return old`
	// refreshScript (run by its SHA: every host every presenceRefresh) renews a host held by this instance (1), or takes it if no one holds it
	// (2: Redis restarted empty, or the key expired while Redis was away); it returns 0 if
	// another instance holds it now.
	refreshScript = `local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if v == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0`
	// releaseScript forgets a host only if this instance still holds it.
	releaseScript = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`
)

var refreshLua = redis.NewScript(refreshScript)

type presenceOp struct {
	hostID, remote string
	up             bool
}

type outgoing struct {
	channel string
	payload []byte
}

// redisCluster is the cluster over Redis: presence and "last seen" in keys, the bus in pub/sub.
type redisCluster struct {
	rdb      *redis.Client
	inst     string
	maxKnown int
	log      *slog.Logger
	hook     func(op string, d time.Duration, err error)
	deliver  func(*envelope, *signaling.Message)
	claimed  func(hostID string)
	// subscribed, when set, is called each time the bus subscription is (re)established.
	subscribed func()
	remotes    func() []string
	gone       func(instance string)
	every      time.Duration // presenceRefresh, shorter in tests

	missing map[string]int // keep's: instances found without their alive key, and how often in a row

	ctx    context.Context
	cancel context.CancelFunc
	ps     *redis.PubSub
	out    chan outgoing
	kick   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	mu    sync.Mutex
	local map[string]bool       // hosts held here
	ops   map[string]presenceOp // presence changes not yet written, the latest per host
	down  bool                  // the last round trip failed (for logging the recovery once)
}

var _ cluster = (*redisCluster)(nil)

// clusterHooks are what a cluster calls back into its server.
type clusterHooks struct {
	onRedis    func(op string, d time.Duration, err error) // optional: every round trip
	deliver    func(*envelope, *signaling.Message)         // an envelope for this instance
	claimed    func(hostID string)                         // a host's presence is published
	subscribed func()                                      // optional: the bus (re)subscribed
	remotes    func() []string                             // the instances this one has sessions with
	gone       func(instance string)                       // an instance stopped renewing its alive key
	every      time.Duration                               // optional: the renewal period (tests)
}

func newRedisCluster(rawURL string, maxKnown int, log *slog.Logger, h clusterHooks) (*redisCluster, error) {
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{log.With("component", "go-redis")}) })
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: --redis %q: %w; give a URL like redis://127.0.0.1:6379/0", redactURL(rawURL), err)
	}
	opts.DialTimeout = redisTimeout
	opts.ReadTimeout = redisTimeout
	opts.WriteTimeout = redisTimeout
	opts.MaxRetries = 1
	opts.DialerRetries = 2
	opts.ContextTimeoutEnabled = true
	var raw [8]byte
	rand.Read(raw[:])
	ctx, cancel := context.WithCancel(context.Background())
	c := &redisCluster{
		rdb: redis.NewClient(opts), inst: hex.EncodeToString(raw[:]), maxKnown: maxKnown,
		log: log.With("component", "cluster"), hook: h.onRedis, deliver: h.deliver, claimed: h.claimed, subscribed: h.subscribed,
		remotes: h.remotes, gone: h.gone, every: h.every, missing: make(map[string]int),
		ctx: ctx, cancel: cancel, out: make(chan outgoing, busQueue), kick: make(chan struct{}, 1),
		local: make(map[string]bool), ops: make(map[string]presenceOp),
	}
	if c.hook == nil {
		c.hook = func(string, time.Duration, error) {}
	}
	if c.every <= 0 {
		c.every = presenceRefresh
	}
	pctx, pcancel := context.WithTimeout(ctx, redisTimeout)
	err = c.rdb.Set(pctx, keyAlive+c.inst, "1", presenceTTL).Err()
	pcancel()
	if err != nil {
		c.down = true
		c.log.Error("cannot reach Redis; serving the hosts connected here only until it answers", "redis", redactURL(rawURL), "err", err)
	} else {
		c.log.Info("joined the rendezvous cluster", "redis", redactURL(rawURL), "instance", c.inst)
	}
	c.ps = c.rdb.Subscribe(ctx, chanInst+c.inst)
	c.wg.Add(3)
	go c.receive(c.ps.ChannelWithSubscriptions(redis.WithChannelSize(busQueue)))
	go c.publishLoop()
	go c.keep()
	return c, nil
}

// redisLogOnce sets go-redis's logger, which is process-wide, once. Its messages (failed dials
// while Redis is away, repeated every 100 ms) go to Debug: the cluster logs each loss and
// recovery of Redis itself, once, with what it means.
var redisLogOnce sync.Once

type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}

// redactURL hides the password of a Redis URL, for logs and errors.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func (c *redisCluster) id() string { return c.inst }

func (c *redisCluster) reachable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down
}

func (c *redisCluster) hostUp(hostID, remote string) {
	c.mu.Lock()
	c.local[hostID] = true
	c.ops[hostID] = presenceOp{hostID: hostID, remote: remote, up: true}
	c.mu.Unlock()
	c.poke()
}

func (c *redisCluster) hostDown(hostID string) {
	c.mu.Lock()
	delete(c.local, hostID)
	c.ops[hostID] = presenceOp{hostID: hostID}
	c.mu.Unlock()
	c.poke()
}

func (c *redisCluster) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *redisCluster) locate(ctx context.Context, hostID string) (string, time.Time, error) {
	start := time.Now()
	pipe := c.rdb.Pipeline()
	get := pipe.Get(ctx, keyHost+hostID)
	score := pipe.ZScore(ctx, keySeen, hostID)
	_, err := pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	c.hook("locate", time.Since(start), err)
	if err != nil {
		return "", time.Time{}, err
	}
	inst, _ := get.Result()
	var seen time.Time
	if ms, err := score.Result(); err == nil && ms > 0 && ms < math.MaxInt64 {
		seen = time.UnixMilli(int64(ms))
	}
	return inst, seen, nil
}

func (c *redisCluster) publish(instance string, e *envelope) {
	e.From = c.inst
	b, err := json.Marshal(e)
	if err != nil {
		c.log.Error("BUG: cannot encode an envelope", "err", err)
		return
	}
	select {
	case c.out <- outgoing{chanInst + instance, b}:
	default:
		c.log.Warn("dropping a message to another instance: the queue to Redis is full", "instance", instance)
	}
}

// close stops the cluster's goroutines. The presence changes not yet written (the hosts that
// left as the server shut down) are written first, so that other instances do not send
// viewers here for up to presenceTTL.
func (c *redisCluster) close() error {
	c.once.Do(func() {
		c.cancel()
		c.ps.Close()
		c.wg.Wait()
		ops := c.takeOps()
		if err := c.apply(context.Background(), ops); err != nil {
			c.log.Warn("could not remove this instance's hosts from Redis; they expire by themselves", "err", err, "ttl", presenceTTL)
		}
		c.rdb.Close()
	})
	return nil
}

// receive hands the envelopes of this instance's channel to the server. go-redis re-subscribes
// by itself after a lost connection.
func (c *redisCluster) receive(ch <-chan any) {
	defer c.wg.Done()
	for v := range ch {
		var msg *redis.Message
		switch v := v.(type) {
		case *redis.Subscription:
			c.log.Debug("listening on the cluster bus", "channel", v.Channel)
			if c.subscribed != nil {
				c.subscribed()
			}
			continue
		case *redis.Message:
			msg = v
		default:
			continue
		}
		e, m, err := decodeEnvelope([]byte(msg.Payload))
		if err != nil {
			c.log.Warn("ignoring a bad message from the cluster bus", "err", err)
			continue
		}
		c.deliver(e, m)
	}
}

// publishLoop publishes queued envelopes in order, in pipelined batches. On shutdown it
// flushes what is queued (byes for the other instances' ends) for up to redisTimeout.
func (c *redisCluster) publishLoop() {
	defer c.wg.Done()
	batch := make([]outgoing, 0, busBatch)
	for {
		batch = batch[:0]
		select {
		case o := <-c.out:
			batch = append(batch, o)
		case <-c.ctx.Done():
		}
	fill:
		for len(batch) < busBatch {
			select {
			case o := <-c.out:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		if len(batch) == 0 {
			return // shut down with nothing left
		}
		ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
		start := time.Now()
		pipe := c.rdb.Pipeline()
		for _, o := range batch {
			pipe.Publish(ctx, o.channel, o.payload)
		}
		_, err := pipe.Exec(ctx)
		cancel()
		c.hook("publish", time.Since(start), err)
		if err != nil {
			c.log.Warn("cannot pass messages to other instances through Redis; their sessions fail", "messages", len(batch), "err", err)
		}
		if c.ctx.Err() != nil && len(c.out) == 0 {
			return
		}
	}
}

// keep writes presence changes as they come and renews every local host's presence and "last
// seen" every presenceRefresh (every redisRetry while Redis fails).
func (c *redisCluster) keep() {
	defer c.wg.Done()
	t := time.NewTimer(c.every)
	defer t.Stop()
	for {
		full := false
		select {
		case <-c.ctx.Done():
			return
		case <-c.kick:
		case <-t.C:
			full = true
		}
		ops := c.takeOps()
		if !full && len(ops) == 0 {
			continue // nothing was asked of Redis, so nothing was learnt about it
		}
		err := c.apply(c.ctx, ops)
		if full {
			err = errors.Join(err, c.refresh())
			wait := c.every
			if err != nil {
				wait = redisRetry
			}
			t.Reset(wait)
		}
		// Down from any failed round trip here; up again only once a renewal has published
		// every local host again (what /readyz and the "redis" of /healthz report).
		c.mu.Lock()
		was := c.down
		if err != nil {
			c.down = true
		} else if full {
			c.down = false
		}
		now := c.down
		c.mu.Unlock()
		switch {
		case now && !was:
			c.log.Error("lost Redis: hosts on other instances are unreachable from here until it returns; hosts connected here still work", "err", err)
			if !full {
				t.Reset(redisRetry)
			}
		case !now && was:
			c.log.Info("Redis is back; this instance's hosts are published again")
		}
	}
}

// takeOps returns the presence changes not yet written, and forgets them.
func (c *redisCluster) takeOps() []presenceOp {
	c.mu.Lock()
	defer c.mu.Unlock()
	ops := make([]presenceOp, 0, len(c.ops))
	for _, op := range c.ops {
		ops = append(ops, op)
	}
	clear(c.ops)
	return ops
}

// apply writes presence changes in one pipeline. A host taken from another instance makes that
// instance close its socket. Changes that fail are kept for the next attempt, unless a newer
// change of the same host came in meanwhile; so they are at most one per host while Redis is
// away.
func (c *redisCluster) apply(ctx context.Context, ops []presenceOp) (err error) {
	if len(ops) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			c.mu.Lock()
			for _, op := range ops {
				if _, newer := c.ops[op.hostID]; !newer {
					c.ops[op.hostID] = op
				}
			}
			c.mu.Unlock()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	now := float64(time.Now().UnixMilli())
	ttl := strconv.FormatInt(presenceTTL.Milliseconds(), 10)
	start := time.Now()
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(ops))
	for i, op := range ops {
		if op.up {
			cmds[i] = pipe.Eval(ctx, claimScript, []string{keyHost + op.hostID}, c.inst, ttl)
		} else {
			cmds[i] = pipe.Eval(ctx, releaseScript, []string{keyHost + op.hostID}, c.inst)
		}
		pipe.ZAdd(ctx, keySeen, redis.Z{Score: now, Member: op.hostID})
	}
	_, err = pipe.Exec(ctx)
	if errors.Is(err, redis.Nil) { // a claim of a host no one held
		err = nil
	}
	c.hook("claim", time.Since(start), err)
	if err != nil {
		return err
	}
	for i, op := range ops {
		if !op.up {
			continue
		}
		if old, _ := cmds[i].Text(); old != "" && old != c.inst {
			c.log.Info("host moved here from another instance; that one closes its connection", "host_id", op.hostID, "instance", old)
			c.publish(old, &envelope{Kind: kindReplaced, HostID: op.hostID, Addr: op.remote})
		}
		c.log.Debug("host published in Redis", "host_id", op.hostID)
		c.claimed(op.hostID)
	}
	return nil
}

// refresh renews the presence of every host held here (re-publishing it if Redis lost it),
// records them as seen now, and trims the "last seen" table.
func (c *redisCluster) refresh() error {
	c.mu.Lock()
	hosts := make([]string, 0, len(c.local))
	for id := range c.local {
		hosts = append(hosts, id)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, redisTimeout)
	defer cancel()
	ttl := strconv.FormatInt(presenceTTL.Milliseconds(), 10)
	now := float64(time.Now().UnixMilli())
	start := time.Now()
	if len(hosts) > 0 {
		// Loaded every time: a Redis that restarted has forgotten it, and a pipeline cannot
		// fall back from EVALSHA to EVAL.
		if err := refreshLua.Load(ctx, c.rdb).Err(); err != nil {
			c.hook("refresh", time.Since(start), err)
			return err
		}
	}
	pipe := c.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(hosts))
	for i, id := range hosts {
		cmds[i] = refreshLua.EvalSha(ctx, pipe, []string{keyHost + id}, c.inst, ttl)
	}
	for i := 0; i < len(hosts); i += 1000 {
		zs := make([]redis.Z, 0, 1000)
		for _, id := range hosts[i:min(i+1000, len(hosts))] {
			zs = append(zs, redis.Z{Score: now, Member: id})
		}
		pipe.ZAdd(ctx, keySeen, zs...)
	}
	pipe.ZRemRangeByRank(ctx, keySeen, 0, int64(-c.maxKnown-1))
	pipe.Set(ctx, keyAlive+c.inst, "1", presenceTTL)
	remotes := c.remotes()
	alive := make([]*redis.IntCmd, len(remotes))
	for i, inst := range remotes {
		alive[i] = pipe.Exists(ctx, keyAlive+inst)
	}
	_, err := pipe.Exec(ctx)
	c.hook("refresh", time.Since(start), err)
	if err != nil {
		return err
	}
	// An instance whose alive key is missing three times in a row (so not merely one that has
	// not renewed it yet after Redis restarted empty: instances renew at the same period) is
	// gone: end the sessions with it.
	seen := make(map[string]int, len(remotes))
	for i, inst := range remotes {
		if n, _ := alive[i].Result(); n == 0 {
			if seen[inst] = c.missing[inst] + 1; seen[inst] >= 3 {
				c.log.Warn("another rendezvous instance stopped renewing its presence; ending the sessions with its clients", "instance", inst)
				c.gone(inst)
				delete(seen, inst)
			}
		}
	}
	c.missing = seen
	for i, id := range hosts {
		switch n, _ := cmds[i].Int(); n {
		case 0:
			// Another instance took the host (its "replaced" message was lost).
			c.deliver(&envelope{Kind: kindReplaced, From: "redis", HostID: id, Addr: "another rendezvous instance"}, nil)
		case 2:
			c.log.Debug("host published in Redis again (Redis had lost it)", "host_id", id)
			c.claimed(id)
		}
	}
	return nil
}
