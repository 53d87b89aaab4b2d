// Package attack holds tests that attack the real deskport code: a man in the middle that
// terminates DTLS on both legs, replayed handshakes, stream floods, a signaling barrage, code
// secrecy against the rendezvous, and channels and media a viewer was not offered. Nothing under
// attack is mocked; the attackers are real pion peers, real WebSockets and real yamux sessions.
// See docs/security.md for the threat model and the figures.
package attack
