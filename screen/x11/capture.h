// The X11 side of screen/x11: one connection, one shared-memory image, damage and cursor
// tracking. Every function is called from one goroutine at a time per capturer; dp_open,
// dp_close and dp_monitors also under the process's Xlib lock (internal/xlib), since opening and
// closing connections changes libXext's process-wide lists, which have no lock of their own.
#ifndef DESKPORT_X11_CAPTURE_H
#define DESKPORT_X11_CAPTURE_H

#include <stdint.h>
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <X11/extensions/Xdamage.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/Xrandr.h>

// Result codes of dp_open and dp_capture.
enum {
	DP_OK = 0,
	DP_ERR_OPEN = 1,        // XOpenDisplay failed
	DP_ERR_FORMAT = 2,      // not a 32 bits per pixel little-endian screen
	DP_ERR_MONITOR = 3,     // no such monitor
	DP_ERR_X = 4,           // an X protocol error; msg says which
	DP_ERR_IO = 5,          // the connection to the server is gone
	DP_ERR_NOMEM = 6,
};

typedef struct {
	int x, y, w, h;
	int primary;
	char name[64];
} dp_monitor;

typedef struct dp_cap {
	Display *dpy;
	Window root;
	Visual *visual;
	int depth;

	int monitor;      // -1: the whole screen
	int want_cursor;

	// The captured rectangle, in root coordinates, and the image that holds it.
	int x, y, w, h;
	XImage *img;
	XShmSegmentInfo shm;
	int use_shm;      // 0 after a fallback to XGetImage
	int shm_attached;

	int has_damage, damage_base;
	Damage damage;
	int dirty;        // damage (or nothing known) since the last grab

	int has_fixes, fixes_base;
	XFixesCursorImage *cur; // the cached cursor shape
	int cur_dirty;          // the shape changed since cur was fetched
	int cur_x, cur_y;       // top left of the cursor drawn in img, root coordinates
	int drawn;              // img holds a cursor drawn at cur_x, cur_y
	uint32_t *saved;        // the pixels under the drawn cursor
	size_t saved_cap;
	int saved_x, saved_y, saved_w, saved_h; // in image coordinates

	int has_randr, randr_base, randr_minor;
	int geom_dirty;

	int xerror;       // last protocol error code seen on this display
	int ioerror;
	char msg[256];

	// Set by dp_capture: the picture changed; the image was reallocated (new size).
	int changed;
	int realloced;
	int shm_failed;   // MIT-SHM was present but could not be used (for the log)
} dp_cap;

int dp_open(dp_cap *c, const char *display, int monitor, int want_cursor, int no_shm);
int dp_capture(dp_cap *c);
void dp_close(dp_cap *c);
int dp_monitors(const char *display, dp_monitor *out, int max, int *n, char *msg, int msglen);

#endif
