//go:build linux && cgo

#include "consumer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pipewire/pipewire.h>
#include <spa/buffer/meta.h>
#include <spa/param/video/format-utils.h>
#include <spa/param/video/type-info.h>
#include <spa/utils/result.h>

static pthread_once_t dpw_init_once = PTHREAD_ONCE_INIT;
static void dpw_init(void) { pw_init(NULL, NULL); }

// dpw_map is our own read-only mapping of a MemFd buffer (in pw_buffer.user_data). Go reads a
// frame straight from it, with no copy; being ours, it stays valid when PipeWire removes the
// buffer (a format change, the producer going away) while Go still reads it.
struct dpw_map {
	uint8_t *base;
	size_t len;
	uint8_t *data; // the data's first byte (base + mapoffset)
};

static void dpw_unmap(struct dpw_map *m) {
	if (!m) return;
	munmap(m->base, m->len);
	free(m);
}

struct dpw {
	struct pw_thread_loop *loop;
	struct pw_context *ctx;
	struct pw_core *core;
	struct spa_hook core_listener;
	struct pw_stream *stream;
	struct spa_hook stream_listener;
	struct pw_registry *registry;
	struct spa_hook registry_listener;
	uint32_t node;
	int evfd;

	pthread_mutex_t mu; // guards everything below; taken by the loop thread and by Go
	struct spa_video_info_raw fmt;
	int have_fmt;
	struct pw_buffer *held; // the newest frame, kept out of the pool until a newer one comes
	int hmapped;            // held's pixels are in our own mapping (zero copy)
	// The frame Go reads (zero copy): kept out of the pool until the next dpw_capture. When
	// PipeWire removes it first, its mapping moves to orphan and lives until then.
	struct pw_buffer *lent;
	struct dpw_map *orphan;
	uint8_t *lpix;
	int lw, lh, lstride;
	int hw, hh, hstride;    // its size and stride
	uint8_t *hpix;          // its pixels
	int dirty, dx0, dy0, dx1, dy1; // damage since the last capture, as a bounding box
	uint64_t seq;           // frames taken; 0 = none yet
	int failed;             // DPW_ERR_* once the stream is gone
	char err[256];

	// The picture handed to Go: only dpw_capture touches it.
	uint8_t *out;
	int ow, oh, ostride;
	uint64_t out_seq;

	uint64_t n_buffers, n_damaged, n_copied, n_lent;

	// When the held and the lent frame arrived (CLOCK_REALTIME and CLOCK_MONOTONIC, ns), the
	// producer's timestamp (SPA_META_Header pts, -1 without one) and how many whole frames the
	// same process call dequeued (more than 1: frames waited in the queue).
	struct dpw_timing ht, lt;
};

static int64_t dpw_now(clockid_t id) {
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void dpw_signal(dpw *p) {
	uint64_t one = 1;
	ssize_t r = write(p->evfd, &one, sizeof one);
	(void)r; // a full counter (EAGAIN) already wakes the reader
}

static void dpw_fail(dpw *p, int code, const char *why) {
	pthread_mutex_lock(&p->mu);
	if (!p->failed) {
		p->failed = code;
		snprintf(p->err, sizeof p->err, "%s", why);
	}
	pthread_mutex_unlock(&p->mu);
	dpw_signal(p);
}

static void on_core_error(void *data, uint32_t id, int seq, int res, const char *message) {
	dpw *p = data;
	char why[256];
	snprintf(why, sizeof why, "PipeWire error on object %u: %s (%s)", id, message ? message : "",
		spa_strerror(res));
	if (id == PW_ID_CORE) dpw_fail(p, DPW_ERR_CONNECT, why);
	else dpw_fail(p, DPW_ERR_STREAM, why);
}

static const struct pw_core_events core_events = {
	PW_VERSION_CORE_EVENTS,
	.error = on_core_error,
};

// on_global_remove notices the producer's node going away (Mutter stopped the screen cast):
// the stream itself only pauses then.
static void on_global_remove(void *data, uint32_t id) {
	dpw *p = data;
	if (id == p->node)
		dpw_fail(p, DPW_ERR_STREAM, "the stream ended (the compositor stopped the screen cast)");
}

static const struct pw_registry_events registry_events = {
	PW_VERSION_REGISTRY_EVENTS,
	.global_remove = on_global_remove,
};

static void on_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state,
		const char *error) {
	dpw *p = data;
	if (state == PW_STREAM_STATE_ERROR) {
		char why[256];
		snprintf(why, sizeof why, "the stream failed: %s", error ? error : "unknown error");
		dpw_fail(p, DPW_ERR_STREAM, why);
	} else if (state == PW_STREAM_STATE_UNCONNECTED && old != PW_STREAM_STATE_UNCONNECTED) {
		dpw_fail(p, DPW_ERR_STREAM, "the stream ended (the compositor stopped the screen cast)");
	}
}

static void on_param_changed(void *data, uint32_t id, const struct spa_pod *param) {
	dpw *p = data;
	if (param == NULL || id != SPA_PARAM_Format) return;
	uint32_t mtype, msub;
	if (spa_format_parse(param, &mtype, &msub) < 0 || mtype != SPA_MEDIA_TYPE_video ||
			msub != SPA_MEDIA_SUBTYPE_raw)
		return;
	struct spa_video_info_raw fmt;
	spa_zero(fmt);
	if (spa_format_video_raw_parse(param, &fmt) < 0) {
		dpw_fail(p, DPW_ERR_FORMAT, "cannot parse the stream's video format");
		return;
	}
	if (fmt.format != SPA_VIDEO_FORMAT_BGRx && fmt.format != SPA_VIDEO_FORMAT_BGRA) {
		dpw_fail(p, DPW_ERR_FORMAT, "the compositor offers no BGRx or BGRA video");
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fmt = fmt;
	p->have_fmt = 1;
	pthread_mutex_unlock(&p->mu);

	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof buf);
	const struct spa_pod *params[3];
	// Shared memory only: without a GPU Mutter offers nothing else, and a DMA-BUF would need
	// an EGL import to read back.
	params[0] = spa_pod_builder_add_object(&b,
		SPA_TYPE_OBJECT_ParamBuffers, SPA_PARAM_Buffers,
		SPA_PARAM_BUFFERS_dataType, SPA_POD_CHOICE_FLAGS_Int((1 << SPA_DATA_MemFd) | (1 << SPA_DATA_MemPtr)));
	params[1] = spa_pod_builder_add_object(&b,
		SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_Header),
		SPA_PARAM_META_size, SPA_POD_Int(sizeof(struct spa_meta_header)));
	params[2] = spa_pod_builder_add_object(&b,
		SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_VideoDamage),
		SPA_PARAM_META_size, SPA_POD_CHOICE_RANGE_Int(sizeof(struct spa_meta_region) * 16,
			sizeof(struct spa_meta_region) * 1, sizeof(struct spa_meta_region) * 16));
	pw_stream_update_params(p->stream, params, 3);
}

static void dpw_damage(dpw *p, int x0, int y0, int x1, int y1) {
	if (x0 < 0) x0 = 0;
	if (y0 < 0) y0 = 0;
	if (x1 > p->hw) x1 = p->hw;
	if (y1 > p->hh) y1 = p->hh;
	if (x0 >= x1 || y0 >= y1) return;
	if (!p->dirty) {
		p->dirty = 1;
		p->dx0 = x0; p->dy0 = y0; p->dx1 = x1; p->dy1 = y1;
		return;
	}
	if (x0 < p->dx0) p->dx0 = x0;
	if (y0 < p->dy0) p->dy0 = y0;
	if (x1 > p->dx1) p->dx1 = x1;
	if (y1 > p->dy1) p->dy1 = y1;
}

// on_process takes every queued buffer: the newest becomes the held frame, the damage of all of
// them adds up (each buffer is a whole frame; its damage says what changed since the one before).
static void on_process(void *data) {
	dpw *p = data;
	struct pw_buffer *b;
	int got = 0;
	int64_t real = dpw_now(CLOCK_REALTIME), mono = dpw_now(CLOCK_MONOTONIC);
	while ((b = pw_stream_dequeue_buffer(p->stream)) != NULL) {
		struct spa_buffer *sb = b->buffer;
		struct spa_meta_header *h = spa_buffer_find_meta_data(sb, SPA_META_Header, sizeof *h);
		struct spa_data *d = &sb->datas[0];
		if ((h && (h->flags & SPA_META_HEADER_FLAG_CORRUPTED)) || d->data == NULL ||
				d->chunk->size == 0 || (d->chunk->flags & SPA_CHUNK_FLAG_CORRUPTED)) {
			// No picture in it (a cursor-only update, or a frame the producer gave up on).
			pw_stream_queue_buffer(p->stream, b);
			continue;
		}
		pthread_mutex_lock(&p->mu);
		int w = p->fmt.size.width, hgt = p->fmt.size.height;
		int stride = d->chunk->stride > 0 ? d->chunk->stride : w * 4;
		if (w <= 0 || hgt <= 0 || stride < w * 4 ||
				(uint64_t)d->chunk->offset + (uint64_t)stride * hgt > d->maxsize) {
			pthread_mutex_unlock(&p->mu);
			pw_stream_queue_buffer(p->stream, b);
			continue;
		}
		struct pw_buffer *old = p->held;
		int resized = w != p->hw || hgt != p->hh;
		struct dpw_map *m0 = b->user_data;
		p->held = b;
		p->hw = w; p->hh = hgt; p->hstride = stride;
		p->hmapped = m0 != NULL;
		p->hpix = (m0 ? m0->data : (uint8_t *)d->data) + d->chunk->offset;
		p->n_buffers++;
		p->ht.arrived_real = real;
		p->ht.arrived_mono = mono;
		p->ht.pts = h ? h->pts : -1;
		p->ht.batch = got + 1;
		struct spa_meta *m = spa_buffer_find_meta(sb, SPA_META_VideoDamage);
		int regions = 0;
		if (m && !resized && p->seq > 0) {
			struct spa_meta_region *r;
			spa_meta_for_each(r, m) {
				if (!spa_meta_region_is_valid(r)) break;
				dpw_damage(p, r->region.position.x, r->region.position.y,
					r->region.position.x + (int)r->region.size.width,
					r->region.position.y + (int)r->region.size.height);
				regions++;
			}
		}
		if (regions > 0) p->n_damaged++;
		else dpw_damage(p, 0, 0, w, hgt);
		p->seq++;
		// A buffer Go still reads goes back at its next capture.
		int requeue = old && old != p->lent;
		pthread_mutex_unlock(&p->mu);
		if (requeue) pw_stream_queue_buffer(p->stream, old);
		got++;
	}
	if (got) dpw_signal(p);
}

// on_remove_buffer forgets the held frame when PipeWire frees its buffer: on a new format, or
// when the producer goes away (the session ended) while we still hold it.
static void on_remove_buffer(void *data, struct pw_buffer *b) {
	dpw *p = data;
	pthread_mutex_lock(&p->mu);
	if (p->held == b) {
		p->held = NULL;
		p->hpix = NULL;
		p->dirty = 0;
	}
	struct dpw_map *m = b->user_data;
	b->user_data = NULL;
	if (m && p->lent == b) {
		// Go may be reading it right now: keep the mapping until its next capture.
		p->lent = NULL;
		dpw_unmap(p->orphan);
		p->orphan = m;
		m = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	dpw_unmap(m);
}

// on_add_buffer maps a MemFd buffer a second time, read-only, for dpw_capture to hand out.
static void on_add_buffer(void *data, struct pw_buffer *b) {
	struct spa_data *d = &b->buffer->datas[0];
	if (d->type != SPA_DATA_MemFd || d->fd < 0 || d->maxsize == 0) return;
	size_t len = (size_t)d->mapoffset + d->maxsize;
	void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, (int)d->fd, 0);
	if (base == MAP_FAILED) return; // dpw_capture copies from PipeWire's own mapping instead
	struct dpw_map *m = calloc(1, sizeof *m);
	if (!m) { munmap(base, len); return; }
	m->base = base;
	m->len = len;
	m->data = (uint8_t *)base + d->mapoffset;
	b->user_data = m;
}

static const struct pw_stream_events stream_events = {
	PW_VERSION_STREAM_EVENTS,
	.state_changed = on_state_changed,
	.add_buffer = on_add_buffer,
	.remove_buffer = on_remove_buffer,
	.param_changed = on_param_changed,
	.process = on_process,
};

dpw *dpw_open(int fd, uint32_t node, int evfd, int max_fps, char *msg, int msglen) {
	pthread_once(&dpw_init_once, dpw_init);
	dpw *p = calloc(1, sizeof *p);
	if (!p) { close(fd); snprintf(msg, msglen, "out of memory"); return NULL; }
	pthread_mutex_init(&p->mu, NULL);
	p->evfd = evfd;
	p->loop = pw_thread_loop_new("deskport-pipewire", NULL);
	if (!p->loop) { close(fd); snprintf(msg, msglen, "cannot create a PipeWire loop"); free(p); return NULL; }
	p->ctx = pw_context_new(pw_thread_loop_get_loop(p->loop), NULL, 0);
	if (!p->ctx) {
		close(fd);
		snprintf(msg, msglen, "cannot create a PipeWire context");
		pw_thread_loop_destroy(p->loop);
		free(p);
		return NULL;
	}
	if (pw_thread_loop_start(p->loop) < 0) {
		close(fd);
		snprintf(msg, msglen, "cannot start the PipeWire loop thread");
		dpw_close(p);
		return NULL;
	}
	pw_thread_loop_lock(p->loop);
	p->core = pw_context_connect_fd(p->ctx, fd, NULL, 0);
	if (!p->core) {
		snprintf(msg, msglen, "cannot connect to PipeWire: %s", strerror(errno));
		pw_thread_loop_unlock(p->loop);
		dpw_close(p);
		return NULL;
	}
	pw_core_add_listener(p->core, &p->core_listener, &core_events, p);
	p->node = node;
	p->registry = pw_core_get_registry(p->core, PW_VERSION_REGISTRY, 0);
	if (p->registry)
		pw_registry_add_listener(p->registry, &p->registry_listener, &registry_events, p);
	p->stream = pw_stream_new(p->core, "deskport",
		pw_properties_new(PW_KEY_MEDIA_TYPE, "Video", PW_KEY_MEDIA_CATEGORY, "Capture",
			PW_KEY_MEDIA_ROLE, "Screen", NULL));
	if (!p->stream) {
		snprintf(msg, msglen, "cannot create a PipeWire stream: %s", strerror(errno));
		pw_thread_loop_unlock(p->loop);
		dpw_close(p);
		return NULL;
	}
	pw_stream_add_listener(p->stream, &p->stream_listener, &stream_events, p);

	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof buf);
	const struct spa_pod *params[1];
	struct spa_rectangle def = SPA_RECTANGLE(1280, 720), lo = SPA_RECTANGLE(1, 1),
		hi = SPA_RECTANGLE(16384, 16384);
	struct spa_fraction fdef = SPA_FRACTION(0, 1), flo = SPA_FRACTION(0, 1), fhi = SPA_FRACTION(1000, 1);
	// maxFramerate caps how often a producer that paints on demand (Mutter: after every stage
	// paint) sends a frame; each one costs it a read-back of the whole picture, so frames
	// beyond the rate the host encodes at are work for nothing.
	struct spa_fraction mhi = SPA_FRACTION(max_fps > 0 ? (uint32_t)max_fps : 1000, 1), mlo = SPA_FRACTION(1, 1);
	struct spa_pod_frame f;
	spa_pod_builder_push_object(&b, &f, SPA_TYPE_OBJECT_Format, SPA_PARAM_EnumFormat);
	spa_pod_builder_add(&b,
		SPA_FORMAT_mediaType, SPA_POD_Id(SPA_MEDIA_TYPE_video),
		SPA_FORMAT_mediaSubtype, SPA_POD_Id(SPA_MEDIA_SUBTYPE_raw),
		SPA_FORMAT_VIDEO_format, SPA_POD_CHOICE_ENUM_Id(3, SPA_VIDEO_FORMAT_BGRx,
			SPA_VIDEO_FORMAT_BGRx, SPA_VIDEO_FORMAT_BGRA),
		SPA_FORMAT_VIDEO_size, SPA_POD_CHOICE_RANGE_Rectangle(&def, &lo, &hi),
		SPA_FORMAT_VIDEO_framerate, SPA_POD_CHOICE_RANGE_Fraction(&fdef, &flo, &fhi), 0);
	if (max_fps > 0)
		spa_pod_builder_add(&b,
			SPA_FORMAT_VIDEO_maxFramerate, SPA_POD_CHOICE_RANGE_Fraction(&mhi, &mlo, &mhi), 0);
	params[0] = spa_pod_builder_pop(&b, &f);
	int rc = pw_stream_connect(p->stream, PW_DIRECTION_INPUT, node,
		PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
	pw_thread_loop_unlock(p->loop);
	if (rc < 0) {
		snprintf(msg, msglen, "cannot connect to PipeWire node %u: %s", node, spa_strerror(rc));
		dpw_close(p);
		return NULL;
	}
	return p;
}

// dpw_lend makes the held frame the one Go reads, giving the previous one back to the pool.
// Called with the loop lock and p->mu held.
static void dpw_lend(dpw *p) {
	struct pw_buffer *prev = p->lent;
	p->lent = p->held;
	p->lpix = p->hpix;
	p->lw = p->hw; p->lh = p->hh; p->lstride = p->hstride;
	p->lt = p->ht;
	if (prev && prev != p->held) pw_stream_queue_buffer(p->stream, prev);
	dpw_unmap(p->orphan);
	p->orphan = NULL;
	p->n_lent++;
}

// dpw_unlend gives the lent frame back (the copy path takes over).
static void dpw_unlend(dpw *p) {
	if (p->lent && p->lent != p->held) pw_stream_queue_buffer(p->stream, p->lent);
	p->lent = NULL;
	p->lpix = NULL;
	dpw_unmap(p->orphan);
	p->orphan = NULL;
}

int dpw_capture(dpw *p, int full, uint8_t **pix, int *w, int *h, int *stride, int *changed,
		int *realloced, char *msg, int msglen) {
	*changed = 0;
	*realloced = 0;
	// The loop lock, because buffers go back to the pool from here.
	pw_thread_loop_lock(p->loop);
	pthread_mutex_lock(&p->mu);
	int rc = DPW_OK;
	if (p->failed) {
		rc = p->failed;
		snprintf(msg, msglen, "%s", p->err);
		goto out;
	}
	if (p->seq == 0 || (!p->hpix && !p->out && !p->lpix)) {
		rc = DPW_NO_FRAME;
		goto out;
	}
	if (!p->hpix) {
		// The buffer we held was freed (a format change is under way): the last picture
		// stands until the next frame.
		if (p->lpix) {
			*pix = p->lpix;
			*w = p->lw; *h = p->lh; *stride = p->lstride;
		} else {
			*pix = p->out;
			*w = p->ow; *h = p->oh; *stride = p->ostride;
		}
		goto out;
	}
	if (p->hmapped) {
		// Zero copy: Go reads the held buffer itself until its next capture.
		if (p->lent != p->held || p->lpix != p->hpix || full) {
			*changed = p->lent != p->held || full || p->dirty;
			*realloced = p->hw != p->lw || p->hh != p->lh || !p->lpix;
			dpw_lend(p);
		} else if (p->out_seq != p->seq) {
			*changed = 1;
		}
		p->dirty = 0;
		p->out_seq = p->seq;
		*pix = p->lpix;
		*w = p->lw; *h = p->lh; *stride = p->lstride;
		goto out;
	}
	dpw_unlend(p);
	if (p->hw != p->ow || p->hh != p->oh || !p->out) {
		int os = p->hw * 4;
		uint8_t *o = malloc((size_t)os * p->hh);
		if (!o) {
			snprintf(msg, msglen, "out of memory for a %dx%d picture", p->hw, p->hh);
			rc = DPW_ERR_NOMEM;
			goto out;
		}
		free(p->out);
		p->out = o;
		p->ow = p->hw; p->oh = p->hh; p->ostride = os;
		*realloced = 1;
		full = 1;
	}
	if (full) {
		p->dirty = 1;
		p->dx0 = 0; p->dy0 = 0; p->dx1 = p->hw; p->dy1 = p->hh;
	}
	if (p->dirty) {
		size_t n = (size_t)(p->dx1 - p->dx0) * 4;
		for (int y = p->dy0; y < p->dy1; y++)
			memcpy(p->out + (size_t)y * p->ostride + (size_t)p->dx0 * 4,
				p->hpix + (size_t)y * p->hstride + (size_t)p->dx0 * 4, n);
		p->n_copied += (uint64_t)(p->dx1 - p->dx0) * (p->dy1 - p->dy0);
		p->dirty = 0;
		*changed = 1;
	}
	p->out_seq = p->seq;
	p->lt = p->ht;
	*pix = p->out;
	*w = p->ow; *h = p->oh; *stride = p->ostride;
out:
	pthread_mutex_unlock(&p->mu);
	pw_thread_loop_unlock(p->loop);
	return rc;
}

void dpw_stats(dpw *p, uint64_t *buffers, uint64_t *damaged, uint64_t *copied_px, uint64_t *lent) {
	pthread_mutex_lock(&p->mu);
	*lent = p->n_lent;
	*buffers = p->n_buffers;
	*damaged = p->n_damaged;
	*copied_px = p->n_copied;
	pthread_mutex_unlock(&p->mu);
}

void dpw_timing(dpw *p, struct dpw_timing *t) {
	pthread_mutex_lock(&p->mu);
	*t = p->lt;
	pthread_mutex_unlock(&p->mu);
}

void dpw_close(dpw *p) {
	if (!p) return;
	if (p->loop) pw_thread_loop_lock(p->loop);
	if (p->stream) {
		if (p->held) pw_stream_queue_buffer(p->stream, p->held);
		if (p->lent && p->lent != p->held) pw_stream_queue_buffer(p->stream, p->lent);
		p->held = NULL;
		p->lent = NULL;
		pw_stream_disconnect(p->stream);
		spa_hook_remove(&p->stream_listener);
		pw_stream_destroy(p->stream);
		p->stream = NULL;
	}
	if (p->registry) {
		spa_hook_remove(&p->registry_listener);
		pw_proxy_destroy((struct pw_proxy *)p->registry);
		p->registry = NULL;
	}
	if (p->core) {
		spa_hook_remove(&p->core_listener);
		pw_core_disconnect(p->core);
		p->core = NULL;
	}
	if (p->loop) pw_thread_loop_unlock(p->loop);
	if (p->loop) pw_thread_loop_stop(p->loop);
	if (p->ctx) pw_context_destroy(p->ctx);
	if (p->loop) pw_thread_loop_destroy(p->loop);
	pthread_mutex_destroy(&p->mu);
	dpw_unmap(p->orphan);
	free(p->out);
	free(p);
}
