// The PipeWire side of screen/pipewire: one thread loop, one core connection (on a socket the
// caller hands over) and one video stream consumed into a picture the Go side reads.
#ifndef DESKPORT_PIPEWIRE_CONSUMER_H
#define DESKPORT_PIPEWIRE_CONSUMER_H

#include <stdint.h>

enum {
	DPW_OK = 0,
	DPW_ERR_CONNECT = 1, // the PipeWire daemon refused or dropped the connection
	DPW_ERR_STREAM = 2,  // the stream failed or ended; msg says why
	DPW_ERR_FORMAT = 3,  // no usable format was negotiated
	DPW_ERR_NOMEM = 4,
	DPW_NO_FRAME = 5,    // no frame has arrived yet
};

typedef struct dpw dpw;

// dpw_open connects over fd (which it then owns) and consumes node. Every frame, error or end
// of the stream writes to evfd (an eventfd the caller owns and keeps open until dpw_close).
// max_fps > 0 asks the producer for at most that many frames a second (the stream's
// maxFramerate); 0 takes what it offers.
dpw *dpw_open(int fd, uint32_t node, int evfd, int max_fps, char *msg, int msglen);

// dpw_capture makes *pix hold the newest frame. *changed is set when it differs from what the
// previous call returned; *realloced when the picture's size (and so *pix) changed. full
// forces a copy of the whole picture.
int dpw_capture(dpw *p, int full, uint8_t **pix, int *w, int *h, int *stride, int *changed,
	int *realloced, char *msg, int msglen);

// dpw_stats reports how many buffers arrived, how many carried damage regions, the pixels
// copied and the frames handed out without a copy.
void dpw_stats(dpw *p, uint64_t *buffers, uint64_t *damaged, uint64_t *copied_px, uint64_t *lent);

// dpw_timing describes the frame the last dpw_capture returned.
struct dpw_timing {
	int64_t arrived_real, arrived_mono; // when the loop thread dequeued it, ns
	int64_t pts;                        // the producer's SPA_META_Header pts, -1 if none
	int batch;                          // whole frames dequeued in the same process call
};
void dpw_timing(dpw *p, struct dpw_timing *t);

void dpw_close(dpw *p);

#endif
