// wlclip: a Wayland clipboard client for deskport's tests. It maps one small window (a Wayland
// client may use the clipboard only while it has the keyboard focus), and then:
//
//   stdout "focus"                the window has the keyboard focus: the clipboard is usable
//   stdout "selection TEXT"       the clipboard changed to a text (text/plain;charset=utf-8),
//                                 read in full; TEXT is escaped as \xNN for bytes outside
//                                 printable ASCII and for '\'
//   stdout "selection-none"       the clipboard was cleared
//   stdout "selection-other"      the clipboard holds something without a UTF-8 text type
//   stdin  "copy TEXT"            take the clipboard with TEXT (escaped the same way); answered
//                                 with "copied" once the compositor has the request
//   stdout "sent MIME N"          another program pasted: N bytes written for MIME
//   stdout "cancelled"            another program took the clipboard from us
//
// Reads and writes of clipboard data go through the poll loop, never blocking it, so the
// client can read its own selection. It needs only libwayland-client.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>
#include "xdg-shell-client-protocol.h"

#define TEXT_MIME "text/plain;charset=utf-8"

static struct wl_display *dpy;
static struct wl_compositor *compositor;
static struct wl_shm *shm;
static struct xdg_wm_base *wm_base;
static struct wl_seat *seat;
static struct wl_data_device_manager *ddm;
static struct wl_data_device *ddev;
static struct wl_surface *surface;
static struct wl_buffer *buffer;
static uint32_t focus_serial;
static int configured;

static void die(const char *msg) {
	fprintf(stderr, "wlclip: %s\n", msg);
	exit(1);
}

// ---- growable byte buffers ----

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *p, size_t n) {
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p) die("out of memory");
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
}

static void print_escaped(const char *prefix, const char *p, size_t n) {
	fputs(prefix, stdout);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = p[i];
		if (c > 0x20 && c < 0x7f && c != '\\') putchar(c);
		else printf("\\x%02x", c);
	}
	putchar('\n');
}

static size_t unescape(char *s) {
	char *o = s;
	for (char *i = s; *i;) {
		unsigned v;
		if (i[0] == '\\' && i[1] == 'x' && sscanf(i + 2, "%2x", &v) == 1) {
			*o++ = (char)v;
			i += 4;
		} else {
			*o++ = *i++;
		}
	}
	return o - s;
}

// ---- the text we offer, and transfers in flight ----

static struct buf copied; // what we put on the clipboard
static struct wl_data_source *source;

#define MAX_XFER 8
static struct xfer {
	int fd;           // -1: free
	int reading;      // 1: reading the selection; 0: writing ours to a paster
	struct buf data;  // read so far, or what to write
	size_t off;       // written so far
	char mime[64];
} xfers[MAX_XFER];

static struct xfer *xfer_new(int fd, int reading) {
	for (int i = 0; i < MAX_XFER; i++) {
		if (xfers[i].fd < 0) {
			struct xfer *x = &xfers[i];
			x->fd = fd;
			x->reading = reading;
			x->data.n = 0;
			x->off = 0;
			x->mime[0] = 0;
			fcntl(fd, F_SETFL, O_NONBLOCK);
			return x;
		}
	}
	die("too many transfers");
	return NULL;
}

static void xfer_end(struct xfer *x) {
	close(x->fd);
	x->fd = -1;
}

// The selection read in flight: a newer selection abandons it.
static struct xfer *reading;

// ---- data offers: collect their types, read the selection ----

struct offer_info {
	int has_text;
};

static void offer_offer(void *data, struct wl_data_offer *o, const char *mime) {
	struct offer_info *info = data;
	if (!strcmp(mime, TEXT_MIME)) info->has_text = 1;
}
static void offer_source_actions(void *d, struct wl_data_offer *o, uint32_t a) {}
static void offer_action(void *d, struct wl_data_offer *o, uint32_t a) {}
static const struct wl_data_offer_listener offer_listener = {
	.offer = offer_offer, .source_actions = offer_source_actions, .action = offer_action,
};

static void dd_data_offer(void *d, struct wl_data_device *dd, struct wl_data_offer *o) {
	wl_data_offer_add_listener(o, &offer_listener, calloc(1, sizeof(struct offer_info)));
}
static void dd_enter(void *d, struct wl_data_device *dd, uint32_t serial, struct wl_surface *s, wl_fixed_t x, wl_fixed_t y, struct wl_data_offer *o) {}
static void dd_leave(void *d, struct wl_data_device *dd) {}
static void dd_motion(void *d, struct wl_data_device *dd, uint32_t t, wl_fixed_t x, wl_fixed_t y) {}
static void dd_drop(void *d, struct wl_data_device *dd) {}

static struct wl_data_offer *current_offer;

static void dd_selection(void *d, struct wl_data_device *dd, struct wl_data_offer *o) {
	if (reading) {
		xfer_end(reading);
		reading = NULL;
	}
	if (current_offer) {
		free(wl_data_offer_get_user_data(current_offer));
		wl_data_offer_destroy(current_offer);
	}
	current_offer = o;
	if (!o) {
		printf("selection-none\n");
		return;
	}
	struct offer_info *info = wl_data_offer_get_user_data(o);
	if (!info->has_text) {
		printf("selection-other\n");
		return;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
	wl_data_offer_receive(o, TEXT_MIME, p[1]);
	close(p[1]);
	reading = xfer_new(p[0], 1);
}
static const struct wl_data_device_listener dd_listener = {
	.data_offer = dd_data_offer, .enter = dd_enter, .leave = dd_leave, .motion = dd_motion,
	.drop = dd_drop, .selection = dd_selection,
};

// ---- our source ----

static void src_target(void *d, struct wl_data_source *s, const char *mime) {}
static void src_send(void *d, struct wl_data_source *s, const char *mime, int32_t fd) {
	struct xfer *x = xfer_new(fd, 0);
	buf_add(&x->data, copied.p ? copied.p : "", copied.n);
	snprintf(x->mime, sizeof x->mime, "%s", mime);
}
static void src_cancelled(void *d, struct wl_data_source *s) {
	wl_data_source_destroy(s);
	if (s == source) {
		source = NULL;
		printf("cancelled\n");
	}
}
static void src_dnd_drop(void *d, struct wl_data_source *s) {}
static void src_dnd_finished(void *d, struct wl_data_source *s) {}
static void src_action(void *d, struct wl_data_source *s, uint32_t a) {}
static const struct wl_data_source_listener src_listener = {
	.target = src_target, .send = src_send, .cancelled = src_cancelled,
	.dnd_drop_performed = src_dnd_drop, .dnd_finished = src_dnd_finished, .action = src_action,
};

static void copy(char *text) {
	copied.n = 0;
	size_t n = unescape(text);
	buf_add(&copied, text, n);
	if (source) wl_data_source_destroy(source);
	source = wl_data_device_manager_create_data_source(ddm);
	wl_data_source_add_listener(source, &src_listener, NULL);
	wl_data_source_offer(source, TEXT_MIME);
	wl_data_source_offer(source, "text/plain");
	wl_data_source_offer(source, "UTF8_STRING");
	wl_data_device_set_selection(ddev, source, focus_serial);
	wl_display_roundtrip(dpy);
	printf("copied\n");
}

// ---- keyboard: only the focus matters ----

static void k_keymap(void *d, struct wl_keyboard *k, uint32_t format, int32_t fd, uint32_t size) { close(fd); }
static void k_enter(void *d, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s, struct wl_array *keys) {
	focus_serial = serial;
	printf("focus\n");
}
static void k_leave(void *d, struct wl_keyboard *k, uint32_t serial, struct wl_surface *s) { printf("unfocus\n"); }
static void k_key(void *d, struct wl_keyboard *k, uint32_t serial, uint32_t t, uint32_t key, uint32_t state) { focus_serial = serial; }
static void k_modifiers(void *d, struct wl_keyboard *k, uint32_t serial, uint32_t dep, uint32_t lat, uint32_t lock, uint32_t group) {}
static void k_repeat(void *d, struct wl_keyboard *k, int32_t rate, int32_t delay) {}
static const struct wl_keyboard_listener keyboard_listener = {
	.keymap = k_keymap, .enter = k_enter, .leave = k_leave, .key = k_key,
	.modifiers = k_modifiers, .repeat_info = k_repeat,
};
static struct wl_keyboard *keyboard;

static void seat_caps(void *d, struct wl_seat *s, uint32_t caps) {
	if ((caps & WL_SEAT_CAPABILITY_KEYBOARD) && !keyboard) {
		keyboard = wl_seat_get_keyboard(s);
		wl_keyboard_add_listener(keyboard, &keyboard_listener, NULL);
	}
}
static void seat_name(void *d, struct wl_seat *s, const char *name) {}
static const struct wl_seat_listener seat_listener = {.capabilities = seat_caps, .name = seat_name};

// ---- the window ----

static void wm_ping(void *data, struct xdg_wm_base *b, uint32_t serial) { xdg_wm_base_pong(b, serial); }
static const struct xdg_wm_base_listener wm_listener = {.ping = wm_ping};

static void xs_configure(void *data, struct xdg_surface *s, uint32_t serial) {
	xdg_surface_ack_configure(s, serial);
	if (!configured) {
		int w = 64, h = 64;
		size_t size = (size_t)w * h * 4;
		int fd = memfd_create("wlclip", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, size) < 0) die("memfd");
		uint32_t *px = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (px == MAP_FAILED) die("mmap");
		for (int i = 0; i < w * h; i++) px[i] = 0xff808080;
		struct wl_shm_pool *pool = wl_shm_create_pool(shm, fd, size);
		buffer = wl_shm_pool_create_buffer(pool, 0, w, h, w * 4, WL_SHM_FORMAT_XRGB8888);
		wl_shm_pool_destroy(pool);
		close(fd);
		wl_surface_attach(surface, buffer, 0, 0);
		wl_surface_damage_buffer(surface, 0, 0, w, h);
	}
	wl_surface_commit(surface);
	configured = 1;
}
static const struct xdg_surface_listener xs_listener = {.configure = xs_configure};
static void tl_configure(void *d, struct xdg_toplevel *t, int32_t w, int32_t h, struct wl_array *s) {}
static void tl_close(void *data, struct xdg_toplevel *t) { exit(0); }
static const struct xdg_toplevel_listener tl_listener = {.configure = tl_configure, .close = tl_close};

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
	} else if (!strcmp(iface, wl_data_device_manager_interface.name))
		ddm = wl_registry_bind(r, name, &wl_data_device_manager_interface, version < 3 ? version : 3);
}
static void global_remove(void *d, struct wl_registry *r, uint32_t name) {}
static const struct wl_registry_listener registry_listener = {.global = global, .global_remove = global_remove};

// service moves clipboard data for the transfer x whose descriptor is ready.
static void service(struct xfer *x) {
	if (x->reading) {
		char tmp[65536];
		for (;;) {
			ssize_t n = read(x->fd, tmp, sizeof tmp);
			if (n > 0) {
				buf_add(&x->data, tmp, n);
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
			print_escaped("selection ", x->data.p ? x->data.p : "", x->data.n);
			xfer_end(x);
			reading = NULL;
			return;
		}
	}
	while (x->off < x->data.n) {
		ssize_t n = write(x->fd, x->data.p + x->off, x->data.n - x->off);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
		if (n <= 0) break; // the paster went away
		x->off += n;
	}
	printf("sent %s %zu\n", x->mime, x->off);
	xfer_end(x);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAX_XFER; i++) xfers[i].fd = -1;
	dpy = wl_display_connect(NULL);
	if (!dpy) die("cannot connect to the Wayland display (WAYLAND_DISPLAY, XDG_RUNTIME_DIR)");
	struct wl_registry *reg = wl_display_get_registry(dpy);
	wl_registry_add_listener(reg, &registry_listener, NULL);
	wl_display_roundtrip(dpy);
	if (!compositor || !shm || !wm_base || !seat || !ddm) die("the compositor lacks wl_compositor, wl_shm, xdg_wm_base, wl_seat or wl_data_device_manager");
	ddev = wl_data_device_manager_get_data_device(ddm, seat);
	wl_data_device_add_listener(ddev, &dd_listener, NULL);
	surface = wl_compositor_create_surface(compositor);
	struct xdg_surface *xs = xdg_wm_base_get_xdg_surface(wm_base, surface);
	xdg_surface_add_listener(xs, &xs_listener, NULL);
	struct xdg_toplevel *tl = xdg_surface_get_toplevel(xs);
	xdg_toplevel_add_listener(tl, &tl_listener, NULL);
	xdg_toplevel_set_title(tl, "wlclip");
	wl_surface_commit(surface);

	char line[1 << 20];
	size_t used = 0;
	for (;;) {
		struct pollfd fds[2 + MAX_XFER] = {{.fd = wl_display_get_fd(dpy), .events = POLLIN}, {.fd = 0, .events = POLLIN}};
		struct xfer *owner[2 + MAX_XFER] = {0};
		int nfds = 2;
		for (int i = 0; i < MAX_XFER; i++) {
			if (xfers[i].fd >= 0) {
				fds[nfds].fd = xfers[i].fd;
				fds[nfds].events = xfers[i].reading ? POLLIN : POLLOUT;
				owner[nfds++] = &xfers[i];
			}
		}
		while (wl_display_prepare_read(dpy) != 0) wl_display_dispatch_pending(dpy);
		wl_display_flush(dpy);
		if (poll(fds, nfds, -1) < 0) {
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
		for (int i = 2; i < nfds; i++) {
			// A transfer may have been ended by an event dispatched above.
			if (fds[i].revents && owner[i]->fd == fds[i].fd) service(owner[i]);
		}
		if (fds[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(0, line + used, sizeof line - 1 - used);
			if (n <= 0) return 0;
			used += n;
			line[used] = 0;
			char *nl;
			while ((nl = strchr(line, '\n'))) {
				*nl = 0;
				if (!strncmp(line, "copy ", 5)) copy(line + 5);
				memmove(line, nl + 1, used - (nl + 1 - line) + 1);
				used -= nl + 1 - line;
			}
			if (used == sizeof line - 1) used = 0;
		}
	}
}
