package files

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// NewProgressBar returns a ProgressFunc that draws a terminal progress bar on w (usually
// os.Stderr) with bytes done, rate and time left. total may be 0 when unknown (downloads learn
// the size from the host); the bar takes the total from the first report.
func NewProgressBar(w io.Writer, total int64, desc string) ProgressFunc {
	bar := progressbar.NewOptions64(max(total, -1),
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	max := total
	return func(done, total int64) {
		if total != max {
			max = total
			bar.ChangeMax64(total)
		}
		_ = bar.Set64(done)
	}
}
