package session

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory adapts pion's LoggerFactory to log/slog. pion is chatty about routine ICE, DTLS and
// SCTP events (a candidate pair not ready yet, a closed conn during teardown), so every level is
// moved one down: its Info and Warn are logged at Debug, its Error at Warn. deskport logs what a
// user must act on itself; -v shows pion's detail.
type slogFactory struct{ l *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLeveled{l: f.l.With("pion", scope)}
}

type slogLeveled struct{ l *slog.Logger }

func (s slogLeveled) log(level slog.Level, msg string) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, msg)
	}
}

func (s slogLeveled) logf(level slog.Level, format string, args ...any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (s slogLeveled) Trace(msg string)                  {}
func (s slogLeveled) Tracef(format string, args ...any) {}
func (s slogLeveled) Debug(msg string)                  { s.log(slog.LevelDebug-4, msg) }
func (s slogLeveled) Debugf(format string, args ...any) { s.logf(slog.LevelDebug-4, format, args...) }
func (s slogLeveled) Info(msg string)                   { s.log(slog.LevelDebug, msg) }
func (s slogLeveled) Infof(format string, args ...any)  { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Warn(msg string)                   { s.log(slog.LevelDebug, msg) }
func (s slogLeveled) Warnf(format string, args ...any)  { s.logf(slog.LevelDebug, format, args...) }
func (s slogLeveled) Error(msg string)                  { s.log(slog.LevelWarn, msg) }
func (s slogLeveled) Errorf(format string, args ...any) { s.logf(slog.LevelWarn, format, args...) }
