//go:build linux && cgo

#include "capture.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <X11/extensions/Xinerama.h>

// ---- errors -------------------------------------------------------------------------------
//
// Xlib's default error handler exits the process, and its handler is process-wide. We install
// one that records the error on the capturer that owns the display and passes errors on other
// displays to whatever handler was there before (robotgo, for example).

#define DP_MAX_CAPS 64
static pthread_mutex_t dp_mu = PTHREAD_MUTEX_INITIALIZER;
static dp_cap *dp_caps[DP_MAX_CAPS];
static XErrorHandler dp_prev_handler;
static int dp_handler_set;

static int dp_error_handler(Display *dpy, XErrorEvent *e) {
	dp_cap *c = NULL;
	pthread_mutex_lock(&dp_mu);
	for (int i = 0; i < DP_MAX_CAPS; i++)
		if (dp_caps[i] && dp_caps[i]->dpy == dpy) c = dp_caps[i];
	XErrorHandler prev = dp_prev_handler;
	pthread_mutex_unlock(&dp_mu);
	if (c) {
		c->xerror = e->error_code;
		char text[128];
		XGetErrorText(dpy, e->error_code, text, sizeof text);
		snprintf(c->msg, sizeof c->msg, "X error %s (request %d.%d)", text, e->request_code,
			e->minor_code);
		return 0;
	}
	if (prev) return prev(dpy, e);
	return 0;
}

static void dp_register(dp_cap *c) {
	pthread_mutex_lock(&dp_mu);
	if (!dp_handler_set) {
		dp_prev_handler = XSetErrorHandler(dp_error_handler);
		dp_handler_set = 1;
	}
	for (int i = 0; i < DP_MAX_CAPS; i++)
		if (!dp_caps[i]) { dp_caps[i] = c; break; }
	pthread_mutex_unlock(&dp_mu);
}

static void dp_unregister(dp_cap *c) {
	pthread_mutex_lock(&dp_mu);
	for (int i = 0; i < DP_MAX_CAPS; i++)
		if (dp_caps[i] == c) dp_caps[i] = NULL;
	pthread_mutex_unlock(&dp_mu);
}

// A lost connection must not exit the process: the exit handler returns, Xlib marks the
// display dead, and the next capture reports DP_ERR_IO.
static void dp_io_exit(Display *dpy, void *data) {
	((dp_cap *)data)->ioerror = 1;
}

static int dp_silent_io_error(Display *dpy) { return 0; }

static int dp_fail(dp_cap *c, int code, const char *msg) {
	if (msg) snprintf(c->msg, sizeof c->msg, "%s", msg);
	return code;
}

// ---- the image ----------------------------------------------------------------------------

static void dp_free_image(dp_cap *c) {
	if (c->img) {
		if (c->shm_attached) {
			if (!c->ioerror) XShmDetach(c->dpy, &c->shm);
			c->shm_attached = 0;
		}
		if (c->use_shm) {
			if (c->shm.shmaddr && c->shm.shmaddr != (char *)-1) shmdt(c->shm.shmaddr);
			c->shm.shmaddr = NULL;
			c->img->data = NULL;
		}
		XDestroyImage(c->img); // frees data for the XGetImage image
		c->img = NULL;
	}
	c->drawn = 0;
}

static int dp_check_format(dp_cap *c) {
	if (c->img->bits_per_pixel != 32 || c->img->byte_order != LSBFirst || c->depth < 24) {
		snprintf(c->msg, sizeof c->msg,
			"the display has %d bits per pixel at depth %d; capture needs 32 bits per pixel "
			"(depth 24), little endian (start Xvfb with -screen 0 WxHx24)",
			c->img->bits_per_pixel, c->depth);
		return DP_ERR_FORMAT;
	}
	return DP_OK;
}

static int dp_shm_image(dp_cap *c) {
	memset(&c->shm, 0, sizeof c->shm);
	c->shm.shmid = -1;
	c->img = XShmCreateImage(c->dpy, c->visual, c->depth, ZPixmap, NULL, &c->shm, c->w, c->h);
	if (!c->img) return -1;
	size_t size = (size_t)c->img->bytes_per_line * c->img->height;
	c->shm.shmid = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (c->shm.shmid < 0) { XDestroyImage(c->img); c->img = NULL; return -1; }
	c->shm.shmaddr = c->img->data = shmat(c->shm.shmid, NULL, 0);
	if (c->shm.shmaddr == (char *)-1) {
		shmctl(c->shm.shmid, IPC_RMID, NULL);
		c->img->data = NULL;
		XDestroyImage(c->img); c->img = NULL;
		return -1;
	}
	c->shm.readOnly = False;
	c->xerror = 0;
	XShmAttach(c->dpy, &c->shm);
	XSync(c->dpy, False);
	// Marked for removal now, so the segment goes away with us even if we crash; the server
	// and we stay attached until detached.
	shmctl(c->shm.shmid, IPC_RMID, NULL);
	if (c->xerror || c->ioerror) {
		// A server in another container or on another machine cannot attach our segment.
		shmdt(c->shm.shmaddr);
		c->shm.shmaddr = NULL;
		c->img->data = NULL;
		XDestroyImage(c->img); c->img = NULL;
		c->xerror = 0;
		return -1;
	}
	c->shm_attached = 1;
	return 0;
}

static int dp_alloc_image(dp_cap *c) {
	dp_free_image(c);
	c->realloced = 1;
	if (c->use_shm && dp_shm_image(c) != 0) {
		c->use_shm = 0;
		c->shm_failed = 1;
	}
	if (!c->use_shm) {
		// bitmap_pad 32 and bytes_per_line 0: Xlib computes the stride.
		c->img = XCreateImage(c->dpy, c->visual, c->depth, ZPixmap, 0, NULL, c->w, c->h, 32, 0);
		if (!c->img) return dp_fail(c, DP_ERR_NOMEM, "XCreateImage failed");
		c->img->data = calloc((size_t)c->img->bytes_per_line, c->img->height);
		if (!c->img->data) {
			XDestroyImage(c->img); c->img = NULL;
			return dp_fail(c, DP_ERR_NOMEM, "out of memory for the screen image");
		}
	}
	return dp_check_format(c);
}

// ---- geometry -----------------------------------------------------------------------------

static int dp_list_monitors(Display *dpy, Window root, int randr_minor, int has_randr,
		dp_monitor *out, int max) {
	int n = 0;
	if (has_randr && randr_minor >= 5) {
		int count = 0;
		XRRMonitorInfo *m = XRRGetMonitors(dpy, root, True, &count);
		for (int i = 0; m && i < count && n < max; i++) {
			dp_monitor *o = &out[n++];
			o->x = m[i].x; o->y = m[i].y; o->w = m[i].width; o->h = m[i].height;
			o->primary = m[i].primary;
			o->name[0] = 0;
			char *name = m[i].name ? XGetAtomName(dpy, m[i].name) : NULL;
			if (name) { snprintf(o->name, sizeof o->name, "%s", name); XFree(name); }
		}
		if (m) XRRFreeMonitors(m);
		if (n > 0) return n;
	}
	int ev, err;
	if (XineramaQueryExtension(dpy, &ev, &err) && XineramaIsActive(dpy)) {
		int count = 0;
		XineramaScreenInfo *s = XineramaQueryScreens(dpy, &count);
		for (int i = 0; s && i < count && n < max; i++) {
			dp_monitor *o = &out[n++];
			o->x = s[i].x_org; o->y = s[i].y_org; o->w = s[i].width; o->h = s[i].height;
			o->primary = i == 0;
			snprintf(o->name, sizeof o->name, "xinerama-%d", i);
		}
		if (s) XFree(s);
		if (n > 0) return n;
	}
	if (max > 0) {
		int scr = DefaultScreen(dpy);
		out[0].x = 0; out[0].y = 0;
		out[0].w = DisplayWidth(dpy, scr); out[0].h = DisplayHeight(dpy, scr);
		out[0].primary = 1;
		snprintf(out[0].name, sizeof out[0].name, "screen");
		n = 1;
	}
	return n;
}

// dp_geometry computes the rectangle to capture and reallocates the image if its size changed.
static int dp_geometry(dp_cap *c) {
	int x = 0, y = 0, w, h;
	Window r; int gx, gy; unsigned int gw, gh, bw, gd;
	if (!XGetGeometry(c->dpy, c->root, &r, &gx, &gy, &gw, &gh, &bw, &gd))
		return dp_fail(c, DP_ERR_X, "cannot read the root window's size");
	w = gw; h = gh;
	if (c->monitor >= 0) {
		dp_monitor mons[32];
		int n = dp_list_monitors(c->dpy, c->root, c->randr_minor, c->has_randr, mons, 32);
		if (c->monitor >= n) {
			snprintf(c->msg, sizeof c->msg, "monitor %d does not exist; the display has %d (0..%d)",
				c->monitor, n, n - 1);
			return DP_ERR_MONITOR;
		}
		dp_monitor *m = &mons[c->monitor];
		// Clip to the screen: a monitor can hang over the edge while a mode changes.
		x = m->x < 0 ? 0 : m->x;
		y = m->y < 0 ? 0 : m->y;
		w = m->x + m->w > (int)gw ? (int)gw - x : m->x + m->w - x;
		h = m->y + m->h > (int)gh ? (int)gh - y : m->y + m->h - y;
		if (w <= 0 || h <= 0) {
			snprintf(c->msg, sizeof c->msg, "monitor %d lies outside the screen", c->monitor);
			return DP_ERR_MONITOR;
		}
	}
	c->geom_dirty = 0;
	int moved = x != c->x || y != c->y;
	c->x = x; c->y = y;
	if (c->img && w == c->w && h == c->h) {
		if (moved) c->dirty = 1;
		return DP_OK;
	}
	c->w = w; c->h = h;
	c->dirty = 1;
	return dp_alloc_image(c);
}

// ---- open / close -------------------------------------------------------------------------

int dp_open(dp_cap *c, const char *display, int monitor, int want_cursor, int no_shm) {
	memset(c, 0, sizeof *c);
	c->monitor = monitor;
	c->want_cursor = want_cursor;
	c->cur_x = c->cur_y = INT_MIN;
	c->dpy = XOpenDisplay(display && display[0] ? display : NULL);
	if (!c->dpy) return DP_ERR_OPEN;
	dp_register(c);
	XSetIOErrorHandler(dp_silent_io_error);
	XSetIOErrorExitHandler(c->dpy, dp_io_exit, c);
	int scr = DefaultScreen(c->dpy);
	c->root = RootWindow(c->dpy, scr);
	c->visual = DefaultVisual(c->dpy, scr);
	c->depth = DefaultDepth(c->dpy, scr);
	c->dirty = 1;

	int major, minor, pixmaps, err;
	int op, ev;
	// XQueryExtension first: XShmQueryVersion prints a warning when the extension is missing.
	c->use_shm = !no_shm && XQueryExtension(c->dpy, "MIT-SHM", &op, &ev, &err) &&
		XShmQueryVersion(c->dpy, &major, &minor, &pixmaps);
	if (!no_shm && !c->use_shm) c->shm_failed = 1;

	if (XDamageQueryExtension(c->dpy, &c->damage_base, &err)) {
		XDamageQueryVersion(c->dpy, &major, &minor);
		c->damage = XDamageCreate(c->dpy, c->root, XDamageReportNonEmpty);
		c->has_damage = 1;
	}
	if (want_cursor && XFixesQueryExtension(c->dpy, &c->fixes_base, &err)) {
		XFixesQueryVersion(c->dpy, &major, &minor);
		XFixesSelectCursorInput(c->dpy, c->root, XFixesDisplayCursorNotifyMask);
		c->has_fixes = 1;
		c->cur_dirty = 1;
	}
	if (XRRQueryExtension(c->dpy, &c->randr_base, &err)) {
		XRRQueryVersion(c->dpy, &major, &c->randr_minor);
		c->has_randr = 1;
		XRRSelectInput(c->dpy, c->root, RRScreenChangeNotifyMask);
	}
	// The first call of an extension that libXext tracks (MIT-SHM and RandR above, Xinerama
	// here) adds this connection to libXext's process-wide lists, which must happen under the
	// caller's lock (internal/xlib). dp_list_monitors may fall back to Xinerama in a later
	// dp_capture, which holds no lock: make that first call now.
	int xin_ev, xin_err;
	XineramaQueryExtension(c->dpy, &xin_ev, &xin_err);
	// A root ConfigureNotify also reports a new screen size, with or without RandR.
	XSelectInput(c->dpy, c->root, StructureNotifyMask);
	c->xerror = 0;
	XSync(c->dpy, False);
	if (c->xerror) {
		// Damage or XFixes refused: go on without them rather than fail.
		c->xerror = 0;
	}
	return dp_geometry(c);
}

void dp_close(dp_cap *c) {
	if (!c->dpy) return;
	dp_free_image(c);
	if (c->cur) { XFree(c->cur); c->cur = NULL; }
	free(c->saved); c->saved = NULL;
	if (!c->ioerror && c->has_damage) XDamageDestroy(c->dpy, c->damage);
	// A connection that had an I/O error stays open (its memory and its socket are leaked, once
	// per lost server): _XIOError takes the display's user lock for the thread that saw the error,
	// expecting the exit handler never to return, and nothing releases it, so XCloseDisplay on
	// any other thread (Go moves goroutines between threads) would wait for it forever. input/xtest
	// does the same.
	if (!c->ioerror) XCloseDisplay(c->dpy);
	dp_unregister(c);
	c->dpy = NULL;
}

// ---- cursor -------------------------------------------------------------------------------

static void dp_restore_cursor(dp_cap *c) {
	if (!c->drawn) return;
	int stride = c->img->bytes_per_line;
	for (int j = 0; j < c->saved_h; j++)
		memcpy(c->img->data + (size_t)(c->saved_y + j) * stride + (size_t)c->saved_x * 4,
			c->saved + (size_t)j * c->saved_w, (size_t)c->saved_w * 4);
	c->drawn = 0;
}

// dp_draw_cursor blends the cursor (premultiplied ARGB) into the image at root position
// (cx, cy), its top left, keeping the pixels it covers so they can be put back.
static void dp_draw_cursor(dp_cap *c, int cx, int cy) {
	XFixesCursorImage *ci = c->cur;
	c->cur_x = cx; c->cur_y = cy;
	if (!ci || cx == INT_MIN) return;
	int x0 = cx - c->x, y0 = cy - c->y; // image coordinates
	int sx = x0 < 0 ? 0 : x0, sy = y0 < 0 ? 0 : y0;
	int ex = x0 + ci->width, ey = y0 + ci->height;
	if (ex > c->w) ex = c->w;
	if (ey > c->h) ey = c->h;
	if (sx >= ex || sy >= ey) return;
	int sw = ex - sx, sh = ey - sy;
	size_t need = (size_t)sw * sh;
	if (need > c->saved_cap) {
		uint32_t *p = realloc(c->saved, need * 4);
		if (!p) return; // no memory: draw no cursor rather than fail the frame
		c->saved = p; c->saved_cap = need;
	}
	int stride = c->img->bytes_per_line;
	for (int j = 0; j < sh; j++) {
		uint32_t *row = (uint32_t *)(c->img->data + (size_t)(sy + j) * stride) + sx;
		memcpy(c->saved + (size_t)j * sw, row, (size_t)sw * 4);
		const unsigned long *src = ci->pixels + (size_t)(sy - y0 + j) * ci->width + (sx - x0);
		for (int i = 0; i < sw; i++) {
			uint32_t s = (uint32_t)src[i];
			uint32_t a = s >> 24;
			if (a == 0) continue;
			if (a == 255) { row[i] = s; continue; }
			uint32_t d = row[i], na = 255 - a;
			uint32_t b = (s & 0xff) + ((d & 0xff) * na + 127) / 255;
			uint32_t g = ((s >> 8) & 0xff) + (((d >> 8) & 0xff) * na + 127) / 255;
			uint32_t r = ((s >> 16) & 0xff) + (((d >> 16) & 0xff) * na + 127) / 255;
			if (b > 255) b = 255;
			if (g > 255) g = 255;
			if (r > 255) r = 255;
			row[i] = (d & 0xff000000u) | r << 16 | g << 8 | b;
		}
	}
	c->saved_x = sx; c->saved_y = sy; c->saved_w = sw; c->saved_h = sh;
	c->drawn = 1;
}

// ---- capture ------------------------------------------------------------------------------

static void dp_events(dp_cap *c) {
	while (!c->ioerror && XPending(c->dpy)) {
		XEvent ev;
		XNextEvent(c->dpy, &ev);
		if (c->has_damage && ev.type == c->damage_base + XDamageNotify) {
			c->dirty = 1;
		} else if (c->has_fixes && ev.type == c->fixes_base + XFixesCursorNotify) {
			c->cur_dirty = 1;
		} else if (c->has_randr && ev.type == c->randr_base + RRScreenChangeNotify) {
			XRRUpdateConfiguration(&ev);
			c->geom_dirty = 1;
		} else if (ev.type == ConfigureNotify && ev.xconfigure.window == c->root) {
			XRRUpdateConfiguration(&ev);
			c->geom_dirty = 1;
		}
	}
}

int dp_capture(dp_cap *c) {
	int *changed = &c->changed;
	*changed = 0;
	c->realloced = 0;
	if (c->ioerror) return dp_fail(c, DP_ERR_IO, "the connection to the X server was lost");
	c->xerror = 0;

	// One round trip: every event the server generated before it answered is in our queue
	// afterwards, so a change that a client has XSync'ed is always seen by this capture.
	int px = 0, py = 0, on_screen = 0;
	if (c->want_cursor) {
		Window rr, cr; int wx, wy; unsigned int mask;
		on_screen = XQueryPointer(c->dpy, c->root, &rr, &cr, &px, &py, &wx, &wy, &mask);
	} else {
		XSync(c->dpy, False);
	}
	dp_events(c);
	if (c->ioerror) return dp_fail(c, DP_ERR_IO, "the connection to the X server was lost");

	if (c->geom_dirty) {
		int rc = dp_geometry(c);
		if (rc != DP_OK) return rc;
	}
	if (!c->has_damage) c->dirty = 1;

	int cx = INT_MIN, cy = INT_MIN, cursor_changed = 0;
	if (c->want_cursor && c->has_fixes) {
		if (c->cur_dirty) {
			if (c->cur) XFree(c->cur);
			c->cur = XFixesGetCursorImage(c->dpy);
			c->cur_dirty = 0;
			cursor_changed = 1;
		}
		if (on_screen && c->cur) {
			cx = px - c->cur->xhot;
			cy = py - c->cur->yhot;
		}
		if (cx != c->cur_x || cy != c->cur_y) cursor_changed = 1;
	}

	if (c->dirty) {
		// Empty the damage first: anything drawn from here on raises a new event.
		if (c->has_damage) XDamageSubtract(c->dpy, c->damage, None, None);
		if (c->use_shm) {
			XShmGetImage(c->dpy, c->root, c->img, c->x, c->y, AllPlanes);
		} else {
			XGetSubImage(c->dpy, c->root, c->x, c->y, c->w, c->h, AllPlanes, ZPixmap, c->img, 0, 0);
		}
		if (c->ioerror) return dp_fail(c, DP_ERR_IO, "the connection to the X server was lost");
		if (c->xerror) {
			// Most likely the screen shrank under us; look again next time.
			c->geom_dirty = 1;
			return DP_ERR_X;
		}
		c->dirty = 0;
		c->drawn = 0;
		*changed = 1;
		if (c->want_cursor && c->has_fixes) dp_draw_cursor(c, cx, cy);
	} else if (cursor_changed) {
		dp_restore_cursor(c);
		dp_draw_cursor(c, cx, cy);
		*changed = 1;
	}
	return DP_OK;
}

int dp_monitors(const char *display, dp_monitor *out, int max, int *n, char *msg, int msglen) {
	Display *dpy = XOpenDisplay(display && display[0] ? display : NULL);
	*n = 0;
	if (!dpy) return DP_ERR_OPEN;
	dp_cap tmp; // for the error handlers only
	memset(&tmp, 0, sizeof tmp);
	tmp.dpy = dpy;
	dp_register(&tmp);
	XSetIOErrorHandler(dp_silent_io_error);
	XSetIOErrorExitHandler(dpy, dp_io_exit, &tmp);
	int base, err, major = 0, minor = 0, has_randr = 0;
	if (XRRQueryExtension(dpy, &base, &err)) {
		XRRQueryVersion(dpy, &major, &minor);
		has_randr = 1;
	}
	*n = dp_list_monitors(dpy, DefaultRootWindow(dpy), minor, has_randr, out, max);
	XSync(dpy, False);
	int rc = tmp.ioerror ? DP_ERR_IO : DP_OK;
	if (msg && msglen > 0) snprintf(msg, msglen, "%s", tmp.msg);
	XCloseDisplay(dpy);
	dp_unregister(&tmp);
	return rc;
}
