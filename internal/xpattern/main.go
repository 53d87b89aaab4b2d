//go:build linux && cgo

// Command xpattern paints a known picture on an X display, for capture tests and demos. It opens
// an override-redirect window over the whole screen (no window manager needed) and paints one
// of the patterns that package pattern defines:
//
//	xpattern -display :99 -pattern blocks
//
// It prints "ready" once the picture is on screen, then reads commands from stdin, one a line,
// and answers each once the server has drawn the result (after XSync):
//
//	next     blocks: shift the colours by one block; prints "ok"
//	blocks   switch to the blocks pattern; prints "ok"
//	clock    switch to the clock pattern (the time in ms, repainted every millisecond); "ok"
//	resize WxH  change the screen size with RandR (Xvfb: no larger than it started); "ok"
//	quit     exit
//
// It exits when stdin closes.
package main

/*
#cgo pkg-config: x11 xrandr
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/Xrandr.h>
#include <stdlib.h>

static int xp_error;
static int xp_ignore(Display *d, XErrorEvent *e) { xp_error = e->error_code; return 0; }

typedef struct {
	Display *dpy;
	Window win;
	GC gc;
	int w, h;
} xp;

static xp *xp_open(const char *name) {
	Display *dpy = XOpenDisplay(name);
	if (!dpy) return NULL;
	XSetErrorHandler(xp_ignore);
	xp *p = calloc(1, sizeof *p);
	p->dpy = dpy;
	int scr = DefaultScreen(dpy);
	Window root = RootWindow(dpy, scr);
	p->w = DisplayWidth(dpy, scr);
	p->h = DisplayHeight(dpy, scr);
	XSetWindowAttributes a;
	a.override_redirect = True;
	a.background_pixel = BlackPixel(dpy, scr);
	a.event_mask = ExposureMask | StructureNotifyMask;
	p->win = XCreateWindow(dpy, root, 0, 0, p->w, p->h, 0, CopyFromParent, InputOutput,
		CopyFromParent, CWOverrideRedirect | CWBackPixel | CWEventMask, &a);
	XSelectInput(dpy, root, StructureNotifyMask); // screen resizes
	XStoreName(dpy, p->win, "xpattern");
	p->gc = XCreateGC(dpy, p->win, 0, NULL);
	XMapRaised(dpy, p->win);
	// Wait for the first Expose (which follows MapNotify), so that no repaint is pending after
	// we print "ready".
	XEvent ev;
	do {
		XNextEvent(dpy, &ev);
	} while (!(ev.type == Expose && ev.xexpose.window == p->win && ev.xexpose.count == 0));
	return p;
}

static unsigned long xp_color(xp *p, int r, int g, int b) {
	XColor c;
	c.red = r * 257; c.green = g * 257; c.blue = b * 257;
	c.flags = DoRed | DoGreen | DoBlue;
	if (!XAllocColor(p->dpy, DefaultColormap(p->dpy, DefaultScreen(p->dpy)), &c)) return 0;
	return c.pixel;
}

static void xp_fill(xp *p, unsigned long pixel, int x, int y, int w, int h) {
	XSetForeground(p->dpy, p->gc, pixel);
	XFillRectangle(p->dpy, p->win, p->gc, x, y, w, h);
}

static void xp_sync(xp *p) { XSync(p->dpy, False); }

// xp_resize changes the screen size with RandR the way Xvfb allows it (within the size it
// started with): switch the CRTC off, set the size. It then fits the window to the new size.
static int xp_resize(xp *p, int w, int h) {
	Window root = DefaultRootWindow(p->dpy);
	XRRScreenResources *res = XRRGetScreenResources(p->dpy, root);
	if (!res) return -1;
	xp_error = 0;
	for (int i = 0; i < res->ncrtc; i++)
		XRRSetCrtcConfig(p->dpy, res, res->crtcs[i], CurrentTime, 0, 0, None, RR_Rotate_0, NULL, 0);
	XRRFreeScreenResources(res);
	XRRSetScreenSize(p->dpy, root, w, h, w * 254 / 960, h * 254 / 960);
	XSync(p->dpy, False);
	if (xp_error) return xp_error;
	p->w = w;
	p->h = h;
	XMoveResizeWindow(p->dpy, p->win, 0, 0, w, h);
	// The resize queues an Expose for the window (and a ConfigureNotify for the root). Take them
	// now: the caller paints once and then says "ok", and a repaint for them on the next turn of
	// the loop would land after "ok" as fresh damage on an unchanged picture.
	XSync(p->dpy, False);
	XEvent ev;
	while (XPending(p->dpy)) XNextEvent(p->dpy, &ev);
	return 0;
}

// xp_events handles what arrived; it returns 1 when the window must be repainted.
static int xp_events(xp *p) {
	int repaint = 0;
	while (XPending(p->dpy)) {
		XEvent ev;
		XNextEvent(p->dpy, &ev);
		if (ev.type == Expose) repaint = 1;
		if (ev.type == ConfigureNotify && ev.xconfigure.window == DefaultRootWindow(p->dpy) &&
		    (ev.xconfigure.width != p->w || ev.xconfigure.height != p->h)) {
			p->w = ev.xconfigure.width;
			p->h = ev.xconfigure.height;
			XMoveResizeWindow(p->dpy, p->win, 0, 0, p->w, p->h);
			repaint = 1;
		}
	}
	return repaint;
}

*/
import "C"

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
	"unsafe"

	"github.com/deskport/deskport/internal/xpattern/pattern"
)

func main() {
	display := flag.String("display", "", "X display (default $DISPLAY)")
	mode := flag.String("pattern", "blocks", "blocks or clock")
	flag.Parse()
	if err := run(*display, *mode); err != nil {
		fmt.Fprintln(os.Stderr, "xpattern:", err)
		os.Exit(1)
	}
}

type painter struct {
	p      *C.xp
	pixels map[pattern.RGB]C.ulong
	mode   string
	n      int   // blocks: pattern number
	shown  int64 // clock: the time on screen, -1 for none
}

func run(display, mode string) error {
	if mode != "blocks" && mode != "clock" {
		return fmt.Errorf("unknown pattern %q (want blocks or clock)", mode)
	}
	cname := C.CString(display)
	defer C.free(unsafe.Pointer(cname))
	p := C.xp_open(cname)
	if p == nil {
		return fmt.Errorf("cannot open display %q", display)
	}
	pt := &painter{p: p, pixels: map[pattern.RGB]C.ulong{}, mode: mode, shown: -1}
	pt.paint()
	C.xp_sync(p)
	fmt.Println("ready")

	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- strings.TrimSpace(sc.Text())
		}
		close(cmds)
	}()
	// One goroutine makes every X call; events are polled, which is plenty for a test picture.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if C.xp_events(p) != 0 {
			pt.shown = -1
			pt.paint()
			C.xp_sync(p)
		}
		if pt.mode == "clock" {
			pt.clock()
			C.xp_sync(p)
			select {
			case cmd, ok := <-cmds:
				if !ok || !pt.command(cmd) {
					return nil
				}
			case <-time.After(time.Millisecond):
			}
			continue
		}
		select {
		case cmd, ok := <-cmds:
			if !ok || !pt.command(cmd) {
				return nil
			}
		case <-tick.C:
		}
	}
}

// command runs one stdin command; false means exit.
func (pt *painter) command(cmd string) bool {
	switch cmd {
	case "quit":
		return false
	case "next":
		pt.n++
		pt.mode = "blocks"
	case "blocks":
		pt.mode = "blocks"
	case "clock":
		pt.mode = "clock"
		pt.shown = -1
	case "":
		return true
	default:
		var w, h int
		if _, err := fmt.Sscanf(cmd, "resize %dx%d", &w, &h); err == nil {
			if rc := C.xp_resize(pt.p, C.int(w), C.int(h)); rc != 0 {
				fmt.Println("error: resize failed with X error", rc)
				return true
			}
			break
		}
		fmt.Println("error: unknown command", cmd)
		return true
	}
	pt.paint()
	C.xp_sync(pt.p)
	fmt.Println("ok")
	return true
}

func (pt *painter) pixel(c pattern.RGB) C.ulong {
	px, ok := pt.pixels[c]
	if !ok {
		px = C.xp_color(pt.p, C.int(c.R), C.int(c.G), C.int(c.B))
		pt.pixels[c] = px
	}
	return px
}

func (pt *painter) paint() {
	w, h := int(pt.p.w), int(pt.p.h)
	if pt.mode == "clock" {
		pt.shown = -1
		pt.clock()
		return
	}
	for row := range pattern.Rows {
		for col := range pattern.Cols {
			x0, y0, x1, y1 := pattern.BlockRect(col, row, w, h)
			C.xp_fill(pt.p, pt.pixel(pattern.Block(pt.n, col, row)), C.int(x0), C.int(y0), C.int(x1-x0), C.int(y1-y0))
		}
	}
}

// clock paints the cells whose bit differs from what is on screen.
func (pt *painter) clock() {
	ms := time.Now().UnixMilli() & pattern.ClockMask
	if ms == pt.shown {
		return
	}
	w, h := int(pt.p.w), int(pt.p.h)
	for i := range pattern.ClockBits {
		b := pattern.ClockBit(ms, i)
		if pt.shown >= 0 && b == pattern.ClockBit(pt.shown, i) {
			continue
		}
		c := pattern.Black
		if b {
			c = pattern.White
		}
		x0, y0, x1, y1 := pattern.ClockRect(i, w, h)
		C.xp_fill(pt.p, pt.pixel(c), C.int(x0), C.int(y0), C.int(x1-x0), C.int(y1-y0))
	}
	pt.shown = ms
}
