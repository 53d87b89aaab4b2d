// wlpattern: a Wayland client for deskport's tests and benchmarks. It shows one fullscreen window
// painted with one of the patterns of internal/xpattern/pattern:
//
//   blocks (the default)  4x2 blocks, palette red green blue yellow magenta cyan white black,
//                         shifted by one per "next"; repainted only on request;
//   clock (-pattern clock) the Unix time in ms (low 48 bits) as 12x4 black/white cells, bit i in
//                         cell i, repainted on every frame callback, so the screen changes in
//                         every frame the compositor shows (only the cells that changed are
//                         painted and damaged).
//
// Commands on stdin, one a line: "next" (blocks: the next colours), "blocks" and "clock" (switch
// pattern). It exits when stdin closes. It reports on stdout what reaches it:
//
//   ready WxH            the first fullscreen picture is presented at this size
//   pointer-enter X Y    the pointer entered the window (clicks reach it from now on)
//   keyboard-enter       the window has the keyboard focus
//   shown N              pattern N is committed (after "next" on stdin)
//   ok                   a "blocks" or "clock" command's picture is committed
//   motion X Y           the pointer moved to X, Y in the window
//   button B 1|0 X Y     a pointer button (Linux BTN_* code) went down or up at surface X, Y
//                        (rounded to whole pixels)
//   axis A V             a smooth scroll on axis A (0 vertical, 1 horizontal) by V
//   discrete A N         a wheel click count on axis A
//   key K 1|0 TEXT       a key (evdev code) went down or up; TEXT is what it types (UTF-8,
//                        hex-escaped as \xNN for bytes outside printable ASCII), or "-"
//
// It needs libwayland-client and libxkbcommon; the test builds it with gcc and the xdg-shell
// code that wayland-scanner generates.
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>
#include <xkbcommon/xkbcommon.h>
#include "xdg-shell-client-protocol.h"

static struct wl_compositor *compositor;
static struct wl_shm *shm;
static struct xdg_wm_base *wm_base;
static struct wl_seat *seat;
static struct wl_surface *surface;
static struct xdg_surface *xsurface;
static struct xdg_toplevel *toplevel;
static struct wl_buffer *buffer;
static uint32_t *pixels;
static int buf_w, buf_h;
static int want_w, want_h;
static int pattern_n;
static int clock_mode;          // painting the clock instead of the blocks
static int clock_pending;       // a frame callback for the clock is requested
static long long clock_shown = -1; // the time on screen, -1 for none
static int configured, ready, fullscreen, waiting_frame;
static double px, py;
static struct xkb_context *xkb;
static struct xkb_keymap *keymap;
static struct xkb_state *kstate;

static const uint32_t palette[8] = {
	0xffff0000, 0xff00ff00, 0xff0000ff, 0xffffff00,
	0xffff00ff, 0xff00ffff, 0xffffffff, 0xff000000,
};

static void die(const char *msg) {
	fprintf(stderr, "wlpattern: %s\n", msg);
	exit(1);
}

static void paint(void) {
	for (int y = 0; y < buf_h; y++) {
		int row = y * 2 / buf_h;
		for (int x = 0; x < buf_w; x++) {
			int col = x * 4 / buf_w;
			pixels[(size_t)y * buf_w + x] = palette[(row * 4 + col + pattern_n) % 8];
		}
	}
}

static void make_buffer(int w, int h) {
	if (buffer) {
		wl_buffer_destroy(buffer);
		munmap(pixels, (size_t)buf_w * buf_h * 4);
		buffer = NULL;
	}
	size_t size = (size_t)w * h * 4;
	int fd = memfd_create("wlpattern", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size) < 0) die("memfd");
	pixels = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pixels == MAP_FAILED) die("mmap");
	struct wl_shm_pool *pool = wl_shm_create_pool(shm, fd, size);
	buffer = wl_shm_pool_create_buffer(pool, 0, w, h, w * 4, WL_SHM_FORMAT_XRGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	buf_w = w;
	buf_h = h;
}

#define CLOCK_COLS 12
#define CLOCK_ROWS 4
#define CLOCK_BITS (CLOCK_COLS * CLOCK_ROWS)

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000) & ((1LL << CLOCK_BITS) - 1);
}

// paint_clock paints the cells whose bit differs from what is on screen (all of them after a
// switch) and damages them; it returns how many it painted. Cell i is pattern.ClockRect(i).
static int paint_clock(void) {
	long long ms = now_ms();
	if (ms == clock_shown) return 0;
	int n = 0;
	for (int i = 0; i < CLOCK_BITS; i++) {
		int bit = (ms >> i) & 1;
		if (clock_shown >= 0 && bit == ((clock_shown >> i) & 1)) continue;
		int col = i % CLOCK_COLS, row = i / CLOCK_COLS;
		int x0 = col * buf_w / CLOCK_COLS, y0 = row * buf_h / CLOCK_ROWS;
		int x1 = (col + 1) * buf_w / CLOCK_COLS, y1 = (row + 1) * buf_h / CLOCK_ROWS;
		uint32_t c = bit ? 0xffffffff : 0xff000000;
		for (int y = y0; y < y1; y++) {
			uint32_t *line = pixels + (size_t)y * buf_w;
			for (int x = x0; x < x1; x++) line[x] = c;
		}
		wl_surface_damage_buffer(surface, x0, y0, x1 - x0, y1 - y0);
		n++;
	}
	clock_shown = ms;
	return n;
}

static void clock_frame(void *data, struct wl_callback *cb, uint32_t t);
static const struct wl_callback_listener clock_listener = {.done = clock_frame};

// clock_commit paints the time and commits with a frame callback, whose arrival (the frame was
// shown) paints the next one: one new picture for every frame the compositor draws.
static void clock_commit(void) {
	paint_clock();
	wl_surface_attach(surface, buffer, 0, 0);
	wl_callback_add_listener(wl_surface_frame(surface), &clock_listener, NULL);
	clock_pending = 1;
	wl_surface_commit(surface);
}

static void clock_frame(void *data, struct wl_callback *cb, uint32_t t) {
	wl_callback_destroy(cb);
	clock_pending = 0;
	if (clock_mode) clock_commit();
}

// show paints the current pattern into the buffer and commits it. The compositor copies shm
// buffers at commit, so repainting the same buffer after the next commit is safe for a test
// client that commits only on request.
static void show(void) {
	if (clock_mode) {
		clock_shown = -1;
		if (!clock_pending) {
			clock_commit();
			return;
		}
		paint_clock();
		wl_surface_attach(surface, buffer, 0, 0);
		wl_surface_commit(surface);
		return;
	}
	paint();
	wl_surface_attach(surface, buffer, 0, 0);
	wl_surface_damage_buffer(surface, 0, 0, buf_w, buf_h);
	wl_surface_commit(surface);
}

static void wm_ping(void *data, struct xdg_wm_base *b, uint32_t serial) { xdg_wm_base_pong(b, serial); }
static const struct xdg_wm_base_listener wm_listener = {.ping = wm_ping};

// The first frame presented in the fullscreen state: the window is at 0,0 now, so the test
// may start (before it, Mutter may still show the window elsewhere, and pointer coordinates
// would be relative to that place).
static void frame_done(void *data, struct wl_callback *cb, uint32_t t) {
	wl_callback_destroy(cb);
	if (!ready) {
		ready = 1;
		printf("ready %dx%d\n", buf_w, buf_h);
	}
}
static const struct wl_callback_listener frame_listener = {.done = frame_done};

static void xs_configure(void *data, struct xdg_surface *s, uint32_t serial) {
	xdg_surface_ack_configure(s, serial);
	int w = want_w > 0 ? want_w : 1280, h = want_h > 0 ? want_h : 720;
	if (!buffer || w != buf_w || h != buf_h) {
		make_buffer(w, h);
		show();
	} else if (!configured) {
		show();
	} else {
		wl_surface_commit(surface);
	}
	configured = 1;
	if (fullscreen && !ready && !waiting_frame) {
		waiting_frame = 1;
		wl_callback_add_listener(wl_surface_frame(surface), &frame_listener, NULL);
		show();
	}
}
static const struct xdg_surface_listener xs_listener = {.configure = xs_configure};

static void tl_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h, struct wl_array *states) {
	if (w > 0 && h > 0) {
		want_w = w;
		want_h = h;
	}
	uint32_t *st;
	wl_array_for_each(st, states) {
		if (*st == XDG_TOPLEVEL_STATE_FULLSCREEN) fullscreen = 1;
	}
}
static void tl_close(void *data, struct xdg_toplevel *t) { exit(0); }
static const struct xdg_toplevel_listener tl_listener = {.configure = tl_configure, .close = tl_close};

// ---- pointer ----

static void p_enter(void *d, struct wl_pointer *p, uint32_t serial, struct wl_surface *s, wl_fixed_t x, wl_fixed_t y) {
	px = wl_fixed_to_double(x);
	py = wl_fixed_to_double(y);
	printf("pointer-enter %ld %ld\n", lround(px), lround(py));
	// No cursor image: the compositor shows none over this surface.
	wl_pointer_set_cursor(p, serial, NULL, 0, 0);
}
static void p_leave(void *d, struct wl_pointer *p, uint32_t serial, struct wl_surface *s) {}
static void p_motion(void *d, struct wl_pointer *p, uint32_t t, wl_fixed_t x, wl_fixed_t y) {
	px = wl_fixed_to_double(x);
	py = wl_fixed_to_double(y);
	printf("motion %ld %ld\n", lround(px), lround(py));
}
static void p_button(void *d, struct wl_pointer *p, uint32_t serial, uint32_t t, uint32_t button, uint32_t state) {
	printf("button %u %d %ld %ld\n", button, state == WL_POINTER_BUTTON_STATE_PRESSED, lround(px), lround(py));
}
static void p_axis(void *d, struct wl_pointer *p, uint32_t t, uint32_t axis, wl_fixed_t v) {
	printf("axis %u %g\n", axis, wl_fixed_to_double(v));
}
static void p_frame(void *d, struct wl_pointer *p) {}
static void p_axis_source(void *d, struct wl_pointer *p, uint32_t src) {}
static void p_axis_stop(void *d, struct wl_pointer *p, uint32_t t, uint32_t axis) {}
static void p_axis_discrete(void *d, struct wl_pointer *p, uint32_t axis, int32_t n) {
	printf("discrete %u %d\n", axis, n);
}
static const struct wl_pointer_listener pointer_listener = {
	.enter = p_enter, .leave = p_leave, .motion = p_motion, .button = p_button, .axis = p_axis,
	.frame = p_frame, .axis_source = p_axis_source, .axis_stop = p_axis_stop,
	.axis_discrete = p_axis_discrete,
};

// ---- keyboard ----

static void k_keymap(void *d, struct wl_keyboard *k, uint32_t format, int32_t fd, uint32_t size) {
	if (format != WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1) { close(fd); return; }
	char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) die("mmap keymap");
	struct xkb_keymap *km = xkb_keymap_new_from_string(xkb, map, XKB_KEYMAP_FORMAT_TEXT_V1, XKB_KEYMAP_COMPILE_NO_FLAGS);
	munmap(map, size);
	if (!km) die("cannot compile the keymap");
	if (kstate) xkb_state_unref(kstate);
	if (keymap) xkb_keymap_unref(keymap);
	keymap = km;
	kstate = xkb_state_new(km);
}
static void k_enter(void *d, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s, struct wl_array *keys) {
	printf("keyboard-enter\n");
}
static void k_leave(void *d, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s) {}
static void k_key(void *d, struct wl_keyboard *k, uint32_t serial, uint32_t t, uint32_t key, uint32_t state) {
	char text[64] = "-";
	if (kstate && state == WL_KEYBOARD_KEY_STATE_PRESSED) {
		char utf8[16];
		int n = xkb_state_key_get_utf8(kstate, key + 8, utf8, sizeof utf8);
		if (n > 0 && n < (int)sizeof utf8) {
			char *o = text;
			for (int i = 0; i < n; i++) {
				unsigned char c = utf8[i];
				if (c > 0x20 && c < 0x7f && c != '\\') *o++ = c;
				else o += sprintf(o, "\\x%02x", c);
			}
			*o = 0;
		}
	}
	printf("key %u %d %s\n", key, state == WL_KEYBOARD_KEY_STATE_PRESSED, text);
}
static void k_modifiers(void *d, struct wl_keyboard *k, uint32_t serial, uint32_t dep, uint32_t lat, uint32_t lock, uint32_t group) {
	if (kstate) xkb_state_update_mask(kstate, dep, lat, lock, 0, 0, group);
}
static void k_repeat(void *d, struct wl_keyboard *k, int32_t rate, int32_t delay) {}
static const struct wl_keyboard_listener keyboard_listener = {
	.keymap = k_keymap, .enter = k_enter, .leave = k_leave, .key = k_key,
	.modifiers = k_modifiers, .repeat_info = k_repeat,
};

static struct wl_pointer *pointer;
static struct wl_keyboard *keyboard;

static void seat_caps(void *d, struct wl_seat *s, uint32_t caps) {
	if ((caps & WL_SEAT_CAPABILITY_POINTER) && !pointer) {
		pointer = wl_seat_get_pointer(s);
		wl_pointer_add_listener(pointer, &pointer_listener, NULL);
	}
	if ((caps & WL_SEAT_CAPABILITY_KEYBOARD) && !keyboard) {
		keyboard = wl_seat_get_keyboard(s);
		wl_keyboard_add_listener(keyboard, &keyboard_listener, NULL);
	}
}
static void seat_name(void *d, struct wl_seat *s, const char *name) {}
static const struct wl_seat_listener seat_listener = {.capabilities = seat_caps, .name = seat_name};

static void global(void *d, struct wl_registry *r, uint32_t name, const char *iface, uint32_t version) {
	if (!strcmp(iface, wl_compositor_interface.name))
		compositor = wl_registry_bind(r, name, &wl_compositor_interface, 4);
	else if (!strcmp(iface, wl_shm_interface.name))
		shm = wl_registry_bind(r, name, &wl_shm_interface, 1);
	else if (!strcmp(iface, xdg_wm_base_interface.name)) {
		wm_base = wl_registry_bind(r, name, &xdg_wm_base_interface, 1);
		xdg_wm_base_add_listener(wm_base, &wm_listener, NULL);
	} else if (!strcmp(iface, wl_seat_interface.name)) {
		seat = wl_registry_bind(r, name, &wl_seat_interface, version < 5 ? version : 5);
		wl_seat_add_listener(seat, &seat_listener, NULL);
	}
}
static void global_remove(void *d, struct wl_registry *r, uint32_t name) {}
static const struct wl_registry_listener registry_listener = {.global = global, .global_remove = global_remove};

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-pattern") && i + 1 < argc && !strcmp(argv[i + 1], "clock")) clock_mode = 1, i++;
		else if (!strcmp(argv[i], "-pattern") && i + 1 < argc && !strcmp(argv[i + 1], "blocks")) i++;
		else die("usage: wlpattern [-pattern blocks|clock]");
	}
	xkb = xkb_context_new(XKB_CONTEXT_NO_FLAGS);
	struct wl_display *dpy = wl_display_connect(NULL);
	if (!dpy) die("cannot connect to the Wayland display (WAYLAND_DISPLAY, XDG_RUNTIME_DIR)");
	struct wl_registry *reg = wl_display_get_registry(dpy);
	wl_registry_add_listener(reg, &registry_listener, NULL);
	wl_display_roundtrip(dpy);
	if (!compositor || !shm || !wm_base) die("the compositor lacks wl_compositor, wl_shm or xdg_wm_base");
	surface = wl_compositor_create_surface(compositor);
	xsurface = xdg_wm_base_get_xdg_surface(wm_base, surface);
	xdg_surface_add_listener(xsurface, &xs_listener, NULL);
	toplevel = xdg_surface_get_toplevel(xsurface);
	xdg_toplevel_add_listener(toplevel, &tl_listener, NULL);
	xdg_toplevel_set_title(toplevel, "wlpattern");
	xdg_toplevel_set_fullscreen(toplevel, NULL);
	wl_surface_commit(surface);

	char line[256];
	size_t used = 0;
	struct pollfd fds[2] = {{.fd = wl_display_get_fd(dpy), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
	for (;;) {
		while (wl_display_prepare_read(dpy) != 0) wl_display_dispatch_pending(dpy);
		wl_display_flush(dpy);
		if (poll(fds, 2, -1) < 0) {
			wl_display_cancel_read(dpy);
			if (errno == EINTR) continue;
			die("poll");
		}
		if (fds[0].revents & POLLIN) {
			if (wl_display_read_events(dpy) < 0) die("the compositor went away");
		} else {
			wl_display_cancel_read(dpy);
		}
		if (fds[0].revents & (POLLHUP | POLLERR)) die("the compositor went away");
		wl_display_dispatch_pending(dpy);
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, line + used, sizeof line - 1 - used);
			if (n <= 0) return 0;
			used += n;
			line[used] = 0;
			char *nl;
			while ((nl = strchr(line, '\n'))) {
				*nl = 0;
				if (!strcmp(line, "next") && configured) {
					pattern_n++;
					clock_mode = 0;
					show();
					wl_display_flush(dpy);
					printf("shown %d\n", pattern_n);
				} else if ((!strcmp(line, "clock") || !strcmp(line, "blocks")) && configured) {
					clock_mode = !strcmp(line, "clock");
					show();
					wl_display_flush(dpy);
					printf("ok\n");
				}
				memmove(line, nl + 1, used - (nl + 1 - line) + 1);
				used -= nl + 1 - line;
			}
			if (used == sizeof line - 1) used = 0;
		}
	}
}
