package host

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/deskport/deskport/internal/termtext"
	"github.com/deskport/deskport/session"
)

// KickedReason is the audit log's error on the session_end of a session the owner ended with
// `host kick`: without it that end read like any viewer leaving.
const KickedReason = "ended by the host's owner (host kick)"

// SessionInfo describes one connected viewer, for `host sessions`.
type SessionInfo struct {
	ID      string    `json:"id"`
	Viewer  string    `json:"viewer"`
	Method  string    `json:"method"`
	Addr    string    `json:"addr"`
	Caps    string    `json:"caps"`
	Started time.Time `json:"started"`
}

// sessionLine is one row of `host sessions`. Every field came from the network at some point
// (the rendezvous reported the address and session ID), so each is escaped before it reaches
// the owner's terminal.
func sessionLine(s SessionInfo, now time.Time) string {
	e := termtext.Escape
	return fmt.Sprintf("%s  %-6s %-50s %-21s %-8s %s\n", e(s.ID), e(s.Method), e(s.Viewer), e(s.Addr), now.Sub(s.Started).Round(time.Second), e(s.Caps))
}

// The admin socket lets the owner list and end sessions of a running agent. It is a Unix
// socket next to the host key (mode 0600, so only the key's owner can use it); requests and
// answers are one JSON object per line.
type adminRequest struct {
	Cmd string `json:"cmd"` // "sessions" or "kick"
	ID  string `json:"id,omitempty"`
}

type adminReply struct {
	Sessions []SessionInfo `json:"sessions,omitempty"`
	Kicked   int           `json:"kicked,omitempty"`
	Error    string        `json:"error,omitempty"`
}

// AdminSocketPath is the admin socket of the agent whose key is at keyPath.
func AdminSocketPath(keyPath string) string { return keyPath + ".sock" }

type adminServer struct {
	ln net.Listener
	wg sync.WaitGroup
}

func (a *Agent) listenAdmin() (*adminServer, error) {
	path := AdminSocketPath(a.cfg.KeyPath)
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("another host agent with this key is running (%s answers)", path)
	}
	os.Remove(path) // a stale socket from an agent that did not exit cleanly
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	cs := &adminServer{ln: ln}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cs.wg.Add(1)
			go func() {
				defer cs.wg.Done()
				a.serveAdmin(c)
			}()
		}
	}()
	return cs, nil
}

func (cs *adminServer) Close() {
	cs.ln.Close()
	cs.wg.Wait()
}

func (a *Agent) serveAdmin(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req adminRequest
	if err := json.NewDecoder(io.LimitReader(c, 4096)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(adminReply{Error: "bad request: " + err.Error()})
		return
	}
	var rep adminReply
	switch req.Cmd {
	case "sessions":
		rep.Sessions = a.Sessions()
	case "kick":
		rep.Kicked = a.Kick(req.ID)
		if rep.Kicked == 0 {
			rep.Error = fmt.Sprintf("no session %q (run `host sessions`)", req.ID)
		}
	default:
		rep.Error = fmt.Sprintf("unknown command %q", req.Cmd)
	}
	json.NewEncoder(c).Encode(rep)
}

// Sessions lists the connected viewers, oldest first.
func (a *Agent) Sessions() []SessionInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]SessionInfo, 0, len(a.sessions))
	for _, s := range a.sessions {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Kick ends the session with the given ID (or a unique prefix of it), or every session for
// "all", at once. It returns how many it ended.
func (a *Agent) Kick(id string) int {
	a.mu.Lock()
	var victims []func() error
	for conn, s := range a.sessions {
		if id == "all" || (len(id) >= 4 && len(id) <= len(s.ID) && s.ID[:len(id)] == id) {
			victims = append(victims, conn.Close)
			if a.kicked == nil {
				a.kicked = map[*session.HostConn]bool{}
			}
			a.kicked[conn] = true // the audit log's session_end says so
			a.log.Warn("the host owner ended a session", "session", s.ID, "viewer", s.Viewer)
		}
	}
	a.mu.Unlock()
	for _, v := range victims {
		v()
	}
	return len(victims)
}

// Admin sends one request to the agent whose key is at keyPath.
func Admin(keyPath, cmd, id string) (*adminReply, error) {
	c, err := net.DialTimeout("unix", AdminSocketPath(keyPath), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("no host agent is running with key %s (%v)", keyPath, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := json.NewEncoder(c).Encode(adminRequest{Cmd: cmd, ID: id}); err != nil {
		return nil, err
	}
	var rep adminReply
	if err := json.NewDecoder(bufio.NewReader(c)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("reading the agent's answer: %w", err)
	}
	if rep.Error != "" {
		return &rep, errors.New(rep.Error)
	}
	return &rep, nil
}
