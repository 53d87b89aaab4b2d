//go:build linux && cgo

package xtest

/*
#cgo pkg-config: x11 xtst
#include <stdlib.h>
#include <pthread.h>
#include <X11/Xlib.h>
#include <X11/keysym.h>
#include <X11/extensions/XTest.h>

// X errors and I/O errors are recorded per connection instead of exiting the process, which
// is what Xlib does by default. The handler chains to the one installed before it (screen/x11
// installs its own the same way), so either may come first.
typedef struct { Display *dpy; int err; int io; } xi_conn;

#define XI_MAX 16
static pthread_mutex_t xi_mu = PTHREAD_MUTEX_INITIALIZER;
static xi_conn *xi_conns[XI_MAX];
static XErrorHandler xi_prev;
static int xi_set;

static int xi_error(Display *dpy, XErrorEvent *e) {
	pthread_mutex_lock(&xi_mu);
	for (int i = 0; i < XI_MAX; i++) {
		if (xi_conns[i] && xi_conns[i]->dpy == dpy) {
			xi_conns[i]->err = e->error_code;
			pthread_mutex_unlock(&xi_mu);
			return 0;
		}
	}
	XErrorHandler prev = xi_prev;
	pthread_mutex_unlock(&xi_mu);
	return prev ? prev(dpy, e) : 0;
}

static void xi_io_exit(Display *dpy, void *data) { ((xi_conn *)data)->io = 1; }
static int xi_silent_io(Display *dpy) { return 0; }

// xi_open returns NULL with *why set: 1 no display, 2 no XTEST, 3 too many connections.
static xi_conn *xi_open(const char *name, int *why) {
	Display *dpy = XOpenDisplay(name);
	if (!dpy) { *why = 1; return NULL; }
	int ev, er, maj, min;
	if (!XTestQueryExtension(dpy, &ev, &er, &maj, &min)) { XCloseDisplay(dpy); *why = 2; return NULL; }
	xi_conn *c = calloc(1, sizeof *c);
	c->dpy = dpy;
	pthread_mutex_lock(&xi_mu);
	int slot = -1;
	for (int i = 0; i < XI_MAX; i++) if (!xi_conns[i]) { slot = i; break; }
	if (slot < 0) { pthread_mutex_unlock(&xi_mu); XCloseDisplay(dpy); free(c); *why = 3; return NULL; }
	xi_conns[slot] = c;
	if (!xi_set) { xi_prev = XSetErrorHandler(xi_error); xi_set = 1; }
	pthread_mutex_unlock(&xi_mu);
	XSetIOErrorHandler(xi_silent_io);
	XSetIOErrorExitHandler(dpy, xi_io_exit, c);
	// Fake events must not be grabbed away by another client's XGrabServer.
	XTestGrabControl(dpy, True);
	return c;
}

static void xi_close(xi_conn *c) {
	pthread_mutex_lock(&xi_mu);
	for (int i = 0; i < XI_MAX; i++) if (xi_conns[i] == c) xi_conns[i] = NULL;
	pthread_mutex_unlock(&xi_mu);
	if (!c->io) XCloseDisplay(c->dpy);
	free(c);
}

static void xi_remap(Display *dpy, int kc, KeySym ks) {
	KeySym syms[2] = {ks, ks};
	XChangeKeyboardMapping(dpy, kc, 2, syms, 1);
}

static void xi_unmap(Display *dpy, int kc) {
	KeySym syms[1] = {NoSymbol};
	XChangeKeyboardMapping(dpy, kc, 1, syms, 1);
}
*/
import "C"

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"unsafe"

	"github.com/deskport/deskport/input"
	"github.com/deskport/deskport/internal/xlib"
)

var initThreads sync.Once

// maxSpares is how many keycodes text may borrow at once. Each character the keymap lacks
// keeps its keycode until eight other such characters have been typed, so that a client that
// reads the keymap lazily after the MappingNotify still finds the character there (the race
// that makes xdotool type wrong characters when it restores the keycode at once).
const maxSpares = 8

// maxWheelNotches bounds the button clicks one wheel event may turn into.
const maxWheelNotches = 50

// xButton is the X button of each input.Button (8 and 9 are back and forward).
var xButton = [...]C.uint{input.ButtonLeft: 1, input.ButtonMiddle: 2, input.ButtonRight: 3, input.ButtonBack: 8, input.ButtonForward: 9}

// Injector injects into one X display over one connection. Its methods are safe for
// concurrent use.
type Injector struct {
	log *slog.Logger

	mu       sync.Mutex
	c        *C.xi_conn
	dpy      *C.Display
	screen   C.int
	minKC    int
	maxKC    int
	keys     [256]bool // X keycodes this injector holds down
	buttons  [10]bool  // X buttons this injector holds down
	wheelX   int       // wheel remainder in 1/120 notch
	wheelY   int
	spares   []spare // keycodes remapped for text, least recently used first
	closed   bool
	closeErr error
}

// spare is a keycode that had no symbols and now types ks.
type spare struct {
	kc int
	ks C.KeySym
}

var _ input.Injector = (*Injector)(nil)

// Open connects to the display and checks for XTEST.
func Open(cfg Config) (*Injector, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	initThreads.Do(func() { C.XInitThreads() })
	var name *C.char
	display := cfg.Display
	if display != "" {
		name = C.CString(display)
		defer C.free(unsafe.Pointer(name))
	} else {
		display = "$DISPLAY"
	}
	// xi_open and xi_close take the process's Xlib lock (internal/xlib): libXext's list of
	// connections, which XTEST's set-up joins, is not safe to change from two threads at once.
	var (
		why C.int
		c   *C.xi_conn
	)
	xlib.Do(func() { c = C.xi_open(name, &why) })
	switch why {
	case 1:
		return nil, fmt.Errorf("xtest: cannot open display %s: is DISPLAY right and X running (and may this user connect: XAUTHORITY)?: %w", display, input.ErrUnsupported)
	case 2:
		return nil, ErrNoXTest
	case 3:
		return nil, fmt.Errorf("xtest: too many injectors open at once (%d)", C.XI_MAX)
	}
	x := &Injector{log: log, c: c, dpy: c.dpy}
	x.screen = C.XDefaultScreen(x.dpy)
	var lo, hi C.int
	C.XDisplayKeycodes(x.dpy, &lo, &hi)
	x.minKC, x.maxKC = int(lo), int(hi)
	log.Debug("xtest: injector ready", "display", display, "keycodes", fmt.Sprintf("%d..%d", lo, hi))
	return x, nil
}

// Inject performs one event (see input.Injector for the units).
func (x *Injector) Inject(e input.Event) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	// One event can take several Xlib calls. When one of them sees the connection fail, Xlib
	// keeps the display locked for the OS thread that saw it, and a later call from another
	// thread would wait forever (holding x.mu): every call of this one stays on one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if x.closed {
		return input.ErrClosed
	}
	if x.c.io != 0 {
		return ErrConnectionLost
	}
	var err error
	switch e.Type {
	case input.TypePointerAbs:
		C.XTestFakeMotionEvent(x.dpy, x.screen, C.int(e.X), C.int(e.Y), C.CurrentTime)
	case input.TypePointerRel:
		C.XTestFakeRelativeMotionEvent(x.dpy, C.int(e.DX), C.int(e.DY), C.CurrentTime)
	case input.TypeButton:
		if !e.Button.Valid() {
			return fmt.Errorf("%w: button %d", input.ErrInvalid, e.Button)
		}
		x.button(xButton[e.Button], e.Down)
	case input.TypeWheel:
		x.wheel(e.DX, e.DY)
	case input.TypeKey:
		kc := int(e.Code.XKeycode())
		if kc < x.minKC || kc > x.maxKC {
			return fmt.Errorf("%w: key %v has keycode %d, outside the server's %d..%d", input.ErrInvalid, e.Code, kc, x.minKC, x.maxKC)
		}
		x.key(kc, e.Down)
	case input.TypeText:
		err = x.text(e.Text)
	case input.TypeReleaseAll:
		x.releaseAll()
	default:
		return nil
	}
	C.XFlush(x.dpy)
	if x.c.io != 0 {
		return ErrConnectionLost
	}
	return err
}

func (x *Injector) key(kc int, down bool) {
	C.XTestFakeKeyEvent(x.dpy, C.uint(kc), cBool(down), C.CurrentTime)
	x.keys[kc] = down
}

func (x *Injector) button(b C.uint, down bool) {
	C.XTestFakeButtonEvent(x.dpy, b, cBool(down), C.CurrentTime)
	x.buttons[b] = down
}

// wheel turns 1/120-notch deltas into clicks of buttons 4/5 (up/down) and 6/7 (left/right),
// keeping the remainder for the next event so that smooth-scrolling viewers still scroll.
func (x *Injector) wheel(dx, dy int) {
	click := func(acc *int, d int, neg, pos C.uint) {
		*acc += d
		n := *acc / input.WheelNotch
		*acc -= n * input.WheelNotch
		b := pos
		if n < 0 {
			b, n = neg, -n
		}
		for i := 0; i < min(n, maxWheelNotches); i++ {
			C.XTestFakeButtonEvent(x.dpy, b, C.True, C.CurrentTime)
			C.XTestFakeButtonEvent(x.dpy, b, C.False, C.CurrentTime)
		}
	}
	click(&x.wheelY, dy, 4, 5)
	click(&x.wheelX, dx, 6, 7)
}

func (x *Injector) releaseAll() {
	for kc, down := range x.keys {
		if down {
			x.key(kc, false)
		}
	}
	for b, down := range x.buttons {
		if down {
			x.button(C.uint(b), false)
		}
	}
	x.wheelX, x.wheelY = 0, 0
}

// text types s character by character by keysym. A character on a key of the current keymap
// (level 1, or level 2 with Shift) is typed with that key; any other gets a spare keycode
// remapped to it. Modifiers the viewer holds are lifted meanwhile so they do not change what
// is typed, then pressed again.
func (x *Injector) text(s string) error {
	km := x.keymap()
	defer km.free()
	shift := int(C.XKeysymToKeycode(x.dpy, C.XK_Shift_L))
	var lifted []int
	for _, c := range input.Codes() {
		if kc := int(c.XKeycode()); c.Modifier() && x.keys[kc] {
			x.key(kc, false)
			lifted = append(lifted, kc)
		}
	}
	var err error
	for _, r := range s {
		ks := keysymOf(r)
		kc, level := km.find(ks)
		if kc == 0 {
			if kc, err = x.borrow(km, ks); err != nil {
				break
			}
			level = 0
		}
		if level == 1 && shift != 0 {
			C.XTestFakeKeyEvent(x.dpy, C.uint(shift), C.True, C.CurrentTime)
		}
		C.XTestFakeKeyEvent(x.dpy, C.uint(kc), C.True, C.CurrentTime)
		C.XTestFakeKeyEvent(x.dpy, C.uint(kc), C.False, C.CurrentTime)
		if level == 1 && shift != 0 {
			C.XTestFakeKeyEvent(x.dpy, C.uint(shift), C.False, C.CurrentTime)
		}
	}
	for _, kc := range lifted {
		x.key(kc, true)
	}
	return err
}

// keysymOf is the X keysym of a character: Latin-1 keysyms equal their code point, the rest
// are 0x01000000 + the code point (X11 keysymdef.h, "Unicode").
func keysymOf(r rune) C.KeySym {
	if r >= 0x20 && r <= 0x7e || r >= 0xa0 && r <= 0xff {
		return C.KeySym(r)
	}
	return C.KeySym(0x01000000 + r)
}

// keymap is a copy of the core keyboard mapping.
type keymap struct {
	syms  *C.KeySym
	per   int
	minKC int
	n     int
}

func (x *Injector) keymap() keymap {
	n := x.maxKC - x.minKC + 1
	var per C.int
	syms := C.XGetKeyboardMapping(x.dpy, C.KeyCode(x.minKC), C.int(n), &per)
	return keymap{syms: syms, per: int(per), minKC: x.minKC, n: n}
}

func (k keymap) free() {
	if k.syms != nil {
		C.XFree(unsafe.Pointer(k.syms))
	}
}

func (k keymap) at(kc, level int) C.KeySym {
	if k.syms == nil || level >= k.per {
		return 0
	}
	return unsafe.Slice(k.syms, k.n*k.per)[(kc-k.minKC)*k.per+level]
}

// find returns the keycode and level (0 plain, 1 shifted) that type ks in group 1, or 0.
func (k keymap) find(ks C.KeySym) (kc, level int) {
	for level := 0; level < 2; level++ {
		for kc := k.minKC; kc < k.minKC+k.n; kc++ {
			if k.at(kc, level) == ks {
				return kc, level
			}
		}
	}
	return 0, 0
}

// empty reports whether kc has no symbols at all.
func (k keymap) empty(kc int) bool {
	for l := 0; l < k.per; l++ {
		if k.at(kc, l) != 0 {
			return false
		}
	}
	return true
}

// borrow maps ks to a spare keycode: a new one with no symbols while fewer than maxSpares are
// borrowed, else the least recently used borrowed one.
func (x *Injector) borrow(km keymap, ks C.KeySym) (int, error) {
	var sp spare
	if len(x.spares) < maxSpares {
		for kc := x.maxKC; kc >= x.minKC; kc-- {
			if km.empty(kc) && !x.borrowed(kc) {
				sp.kc = kc
				break
			}
		}
	}
	if sp.kc == 0 {
		if len(x.spares) == 0 {
			return 0, ErrNoSpareKeycode
		}
		sp = x.spares[0]
		x.spares = x.spares[1:]
	}
	sp.ks = ks
	x.spares = append(x.spares, sp)
	C.xi_remap(x.dpy, C.int(sp.kc), ks)
	x.log.Debug("xtest: keycode remapped for text", "keycode", sp.kc, "keysym", fmt.Sprintf("0x%x", uint64(ks)))
	return sp.kc, nil
}

func (x *Injector) borrowed(kc int) bool {
	for _, s := range x.spares {
		if s.kc == kc {
			return true
		}
	}
	return false
}

// Close releases everything held, gives borrowed keycodes their empty mapping back and closes
// the connection. It is idempotent.
func (x *Injector) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return x.closeErr
	}
	x.closed = true
	runtime.LockOSThread() // as in Inject
	defer runtime.UnlockOSThread()
	if x.c.io == 0 {
		x.releaseAll()
		for _, s := range x.spares {
			C.xi_unmap(x.dpy, C.int(s.kc))
		}
		x.spares = nil
		C.XSync(x.dpy, C.False)
		if x.c.io != 0 {
			x.closeErr = ErrConnectionLost
		}
	}
	xlib.Do(func() { C.xi_close(x.c) })
	x.c, x.dpy = nil, nil
	return x.closeErr
}

// keysDown reports which keycodes the server has down (XQueryKeymap), for tests.
func (x *Injector) keysDown() ([]int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, input.ErrClosed
	}
	var km [32]C.char
	C.XQueryKeymap(x.dpy, &km[0])
	if x.c.io != 0 {
		return nil, ErrConnectionLost
	}
	var down []int
	for i, b := range km {
		for j := 0; j < 8; j++ {
			if byte(b)&(1<<j) != 0 {
				down = append(down, i*8+j)
			}
		}
	}
	return down, nil
}

func cBool(b bool) C.Bool {
	if b {
		return C.True
	}
	return C.False
}

// xerror is the last X error code on the connection, for tests.
func (x *Injector) xerror() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.c == nil {
		return 0
	}
	return int(x.c.err)
}
