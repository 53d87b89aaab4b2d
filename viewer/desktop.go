package viewer

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/deskport/deskport/tempfork/webrtc"
	"github.com/deskport/deskport/tempfork/webrtc/pkg/media/h264writer"
	"github.com/deskport/deskport/tempfork/webrtc/pkg/media/ivfwriter"
	"github.com/deskport/deskport/tempfork/webrtc/pkg/media/samplebuilder"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/deskport/deskport/rendezvous"
	"github.com/deskport/deskport/screen/vp8"
	"github.com/deskport/deskport/session"
)

// connectVideo connects asking for the screen and waits for the host's video track.
func connectVideo(ctx context.Context, cfg Config) (*session.ViewerConn, *webrtc.TrackRemote, error) {
	cfg.Session.Video = &session.VideoConfig{}
	conn, _, err := connectFor(ctx, cfg, "view")
	if err != nil {
		return nil, nil, err
	}
	select {
	case t := <-conn.Tracks:
		return conn, t, nil
	case <-conn.Done():
		conn.Close()
		return nil, nil, errors.New("the connection to the host ended before any video arrived")
	case <-time.After(15 * time.Second):
		conn.Close()
		return nil, nil, errors.New("the host sent no video within 15 s; is it sharing its screen (not --no-desktop, and a display it can capture)?")
	case <-ctx.Done():
		conn.Close()
		return nil, nil, ctx.Err()
	}
}

// Screenshot saves one decoded frame of the host's screen as PNG.
func Screenshot(ctx context.Context, cfg Config, out string) error {
	conn, track, err := connectVideo(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeVP8) {
		return fmt.Errorf("the host streams %s; screenshot decodes VP8 only (start the host with --codec vp8)", track.Codec().MimeType)
	}
	dec, err := vp8.NewDecoder()
	if err != nil {
		return err
	}
	defer dec.Close()
	_ = conn.RequestKeyframe(track)
	sb := samplebuilder.New(256, &codecs.VP8Packet{}, 90000)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return fmt.Errorf("reading video: %w", err)
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if len(s.Data) < 3 || s.Data[0]&0x01 != 0 { // VP8 frame tag: bit 0 clear = keyframe
				continue
			}
			img, err := dec.Decode(s.Data)
			if err != nil {
				return fmt.Errorf("decoding a VP8 keyframe: %w", err)
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := png.Encode(f, img); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cfg.Out, "saved %dx%d screenshot to %s\n", img.Bounds().Dx(), img.Bounds().Dy(), out)
			return nil
		}
	}
	return errors.New("no keyframe arrived within 20 s")
}

// Record saves the host's screen stream to out until ctx is done: IVF for VP8 (.ivf), raw
// Annex B for H.264 (.h264). Both play in ffplay/VLC.
func Record(ctx context.Context, cfg Config, out string) error {
	conn, track, err := connectVideo(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	var write func(*rtp.Packet) error
	var closeFile func() error
	mime := track.Codec().MimeType
	if err := checkRecordName(mime, out); err != nil {
		return err
	}
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		w, err := ivfwriter.New(out, ivfwriter.WithCodec(mime))
		if err != nil {
			return err
		}
		write, closeFile = w.WriteRTP, w.Close
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		w, err := h264writer.New(out)
		if err != nil {
			return err
		}
		write, closeFile = w.WriteRTP, w.Close
	default:
		return fmt.Errorf("cannot record %s", mime)
	}
	_ = conn.RequestKeyframe(track)
	fmt.Fprintf(cfg.Out, "recording %s to %s; press Ctrl-C to stop\n", mime, out)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var packets int
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			break
		}
		if err := write(pkt); err != nil {
			closeFile()
			return fmt.Errorf("writing %s: %w", out, err)
		}
		packets++
	}
	// Ctrl-C (ctx done) is how a recording is meant to end; a stream that ends by itself means
	// the host went away, which a script must be able to tell from success.
	stopped := ctx.Err() != nil
	if err := closeFile(); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Out, "saved %d packets to %s\n", packets, out)
	if !stopped {
		return fmt.Errorf("the host went away (it stopped, or the connection to it was lost); %s holds what arrived until then", out)
	}
	return nil
}

// checkRecordName refuses an output name whose extension says another format than the one
// Record writes for the stream: a session.mp4 or .webm got IVF bytes that no player opens under
// that name, and a .ivf from a host streaming H.264 got Annex B. A name without an extension
// is taken as it is.
func checkRecordName(mime, out string) error {
	ext := strings.ToLower(filepath.Ext(out))
	if ext == "" {
		return nil
	}
	var format string
	var exts []string
	switch {
	case strings.EqualFold(mime, webrtc.MimeTypeVP8):
		format, exts = "IVF", []string{".ivf"}
	case strings.EqualFold(mime, webrtc.MimeTypeH264):
		format, exts = "raw H.264 (Annex B)", []string{".h264", ".264"}
	default:
		return nil
	}
	if slices.Contains(exts, ext) {
		return nil
	}
	return fmt.Errorf("the host streams %s, which viewer record saves as %s: name the file %s (not %s); nothing was written",
		strings.TrimPrefix(mime, "video/"), format, strings.TrimSuffix(out, filepath.Ext(out))+exts[0], out)
}

// Open opens the browser viewer for the host in the default browser.
func Open(cfg Config) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	base := cfg.Rendezvous
	if urls := rendezvous.SplitURLs(base); len(urls) > 0 {
		base = urls[0] // a list of cluster instances: any of them serves the page
	}
	url := strings.TrimRight(base, "/") + "/#" + cfg.HostID
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	fmt.Fprintf(cfg.Out, "opening %s\n", url)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start a browser (%v); open %s yourself", err, url)
	}
	go cmd.Wait()
	return nil
}
