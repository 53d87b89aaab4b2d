package logflags

// URLList is a --rendezvous flag that takes a comma-separated list of URLs and extends it with
// each repetition of the flag: `--rendezvous a --rendezvous b` and `--rendezvous a,b` are the
// same list. Its first use replaces the default (*p when the flag is registered, e.g.
// $DESKPORT_RENDEZVOUS). It reads as one string, so a configuration file's string value works.
type URLList struct {
	p   *string
	set bool
}

// NewURLList returns the flag value that keeps its list in *p.
func NewURLList(p *string) *URLList { return &URLList{p: p} }

func (u *URLList) String() string {
	if u.p == nil {
		return ""
	}
	return *u.p
}

// Set adds v (one URL or a comma-separated list) to the list.
func (u *URLList) Set(v string) error {
	if !u.set || *u.p == "" {
		*u.p, u.set = v, true
		return nil
	}
	*u.p += "," + v
	return nil
}

// Type is "string" for help texts and completion.
func (u *URLList) Type() string { return "string" }
