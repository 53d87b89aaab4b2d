package cpace

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// unhex decodes a vector written the way the draft prints it (split over lines).
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad vector %q: %v", s, err)
	}
	return b
}

func scalar(t testing.TB, s string) *ristretto255.Scalar {
	t.Helper()
	x := ristretto255.NewScalar()
	if err := x.Decode(unhex(t, s)); err != nil {
		t.Fatalf("scalar %s: %v", s, err)
	}
	return x
}

func TestPrependLenVectors(t *testing.T) {
	r127 := make([]byte, 127)
	r128 := make([]byte, 128)
	for i := range r128 {
		r128[i] = byte(i)
		if i < 127 {
			r127[i] = byte(i)
		}
	}
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{nil, "00"},
		{[]byte("1234"), "0431323334"},
		{r127, "7f" + hex.EncodeToString(r127)},
		{r128, "8001" + hex.EncodeToString(r128)},
	} {
		if got := hex.EncodeToString(prependLen(tc.in)); got != tc.want {
			t.Errorf("prepend_len(%d bytes) = %s, want %s", len(tc.in), got, tc.want)
		}
	}
	if got := hex.EncodeToString(lvCat([]byte("1234"), []byte("5"), nil, []byte("6789"))); got != "04313233340135000436373839" {
		t.Errorf("lv_cat vector = %s", got)
	}
	// A length of 300 needs two LEB128 bytes: 300 = 0b10_0101100 -> ac 02.
	if got := prependLen(make([]byte, 300))[:2]; !bytes.Equal(got, []byte{0xac, 0x02}) {
		t.Errorf("prepend_len(300 bytes) prefix = %x, want ac02", got)
	}
}

// The vectors of draft-irtf-cfrg-cpace-21, appendix B.3 "Test vector for CPace using group
// ristretto255 and hash SHA-512".
var (
	vecPRS = []byte("Password")
	vecCI  = []byte("\x0bA_initiator\x0bB_responder")
	vecSID = "7e4b4791d6a8ef019b936c79fb7f2c57"
	vecADa = []byte("ADa")
	vecADb = []byte("ADb")

	vecGenString = `11435061636552697374726574746f3235350850617373776f726464
         00000000000000000000000000000000000000000000000000000000
         00000000000000000000000000000000000000000000000000000000
         00000000000000000000000000000000000000000000000000000000
         00000000000000000000000000000000180b415f696e69746961746f
         720b425f726573706f6e646572107e4b4791d6a8ef019b936c79fb7f
         2c57`
	vecGenHash = `da6d3ddc8802fca9058755ffd3ebde08a9c2c74945901a258482a288
         b6663af06bf645c93cd1c51512307199c80e84908916d983b34af772
         05f90851a657ee27`
	vecG   = "222b6b195fe84b1652badb6f6a3ae3d24341e7306967f0b8115b40d5698c7e56"
	vecYa  = "da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08"
	vecYA  = "d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0eec482b9157"
	vecYb  = "d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d"
	vecYB  = "3ea7e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f7258"
	vecK   = "80b69a8a76457ab6a4d7f887a4bf6b55a2f80ac19c333f917a05fc9887c8b40f"
	vecMSG = `20d6bac480f2c386c394efc7c47adb9925dcd2630b64f240c50f8d0e
         ec482b915703414461203ea7e0b19560d7c0b0f5734f63b955286dfa
         8232b5ebe63324e2d9e7433f725803414462`
	vecISKInput = `15435061636552697374726574746f3235355f49534b107e4b4791d6
         a8ef019b936c79fb7f2c572080b69a8a76457ab6a4d7f887a4bf6b55
         a2f80ac19c333f917a05fc9887c8b40f20d6bac480f2c386c394efc7
         c47adb9925dcd2630b64f240c50f8d0eec482b915703414461203ea7
         e0b19560d7c0b0f5734f63b955286dfa8232b5ebe63324e2d9e7433f
         725803414462`
	vecISK = `b69effbf61b51d56401c0f65601abe428de8206feaaf0e32198896dc
         ae7b35cd2b38950a39dfd5d4a79164614c2984f7daa460b588c1e80c
         3fa2068af7900447`
)

func TestDraftVectorsRistretto255(t *testing.T) {
	sid := unhex(t, vecSID)

	gs := generatorString([]byte(DSI), vecPRS, vecCI, sid, sInBytes)
	if !bytes.Equal(gs, unhex(t, vecGenString)) {
		t.Fatalf("generator_string = %x", gs)
	}
	if zpad := len(gs) - len(lvCat([]byte(DSI), vecPRS, nil, vecCI, sid)); zpad != 100 {
		t.Errorf("ZPAD length = %d, want 100", zpad)
	}
	if h := sha512Sum(gs); !bytes.Equal(h, unhex(t, vecGenHash)) {
		t.Errorf("hash of generator string = %x", h)
	}
	if g := CalculateGenerator(vecPRS, vecCI, sid).Encode(nil); !bytes.Equal(g, unhex(t, vecG)) {
		t.Fatalf("generator = %x, want %s", g, vecG)
	}

	ini, msgA := newInitiatorScalar(vecPRS, vecCI, sid, vecADa, scalar(t, vecYa))
	if !bytes.Equal(msgA, unhex(t, vecYA)) {
		t.Fatalf("Ya = %x, want %s", msgA, vecYA)
	}
	if got := lvCat(msgA, vecADa); !bytes.Equal(got, unhex(t, vecMSG)[:37]) {
		t.Errorf("MSGa = %x", got)
	}

	msgB, iskB, err := respondScalar(vecPRS, vecCI, sid, msgA, vecADa, vecADb, scalar(t, vecYb))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msgB, unhex(t, vecYB)) {
		t.Fatalf("Yb = %x, want %s", msgB, vecYB)
	}
	if tr := transcriptIR(msgA, vecADa, msgB, vecADb); !bytes.Equal(tr, unhex(t, vecMSG)) {
		t.Errorf("transcript = %x", tr)
	}

	kA, err := scalarMultVfy(scalar(t, vecYa), msgB)
	if err != nil {
		t.Fatal(err)
	}
	kB, err := scalarMultVfy(scalar(t, vecYb), msgA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kA, unhex(t, vecK)) || !bytes.Equal(kB, unhex(t, vecK)) {
		t.Fatalf("K = %x / %x, want %s", kA, kB, vecK)
	}
	in := append(lvCat([]byte(DSI+"_ISK"), sid, kA), transcriptIR(msgA, vecADa, msgB, vecADb)...)
	if !bytes.Equal(in, unhex(t, vecISKInput)) {
		t.Errorf("ISK input = %x", in)
	}

	iskA, err := ini.Finish(msgB, vecADb)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, vecISK)
	if !bytes.Equal(iskA, want) || !bytes.Equal(iskB, want) {
		t.Fatalf("ISK = %x / %x, want %x", iskA, iskB, want)
	}
	if _, err := ini.Finish(msgB, vecADb); !errors.Is(err, ErrFinished) {
		t.Errorf("second Finish: err = %v, want ErrFinished", err)
	}
}

func TestScalarMultVectors(t *testing.T) {
	s := scalar(t, "7cd0e075fa7955ba52c02759a6c90dbbfc10e6d40aea8d283e407d88cf538a05")
	x := unhex(t, "2c3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c")
	want := unhex(t, "7c13645fe790a468f62c39beb7388e541d8405d1ade69d1778c5fe3e7f6b600e")
	var X ristretto255.Element
	if err := X.Decode(x); err != nil {
		t.Fatal(err)
	}
	if got := scalarMult(s, &X); !bytes.Equal(got, want) {
		t.Errorf("scalar_mult = %x", got)
	}
	got, err := scalarMultVfy(s, x)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("scalar_mult_vfy = %x, %v", got, err)
	}

	// The draft's invalid inputs (B.3.11): Y_i1 does not decode, Y_i2 is G.I.
	for name, y := range map[string]string{
		"Y_i1": "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c",
		"Y_i2": "0000000000000000000000000000000000000000000000000000000000000000",
	} {
		if _, err := scalarMultVfy(s, unhex(t, y)); !errors.Is(err, ErrInvalidElement) {
			t.Errorf("scalar_mult_vfy(s, %s): err = %v, want ErrInvalidElement", name, err)
		}
		// ... and the protocol aborts when they appear as Ya or Yb.
		if _, _, err := Respond(vecPRS, vecCI, nil, unhex(t, y), nil, nil, nil); !errors.Is(err, ErrInvalidElement) {
			t.Errorf("Respond with Ya = %s: err = %v", name, err)
		}
		ini, _, err := NewInitiator(vecPRS, vecCI, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ini.Finish(unhex(t, y), nil); !errors.Is(err, ErrInvalidElement) {
			t.Errorf("Finish with Yb = %s: err = %v", name, err)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := scalarMultVfy(s, bad); !errors.Is(err, ErrInvalidElement) {
			t.Errorf("scalar_mult_vfy on %d bytes: err = %v", len(bad), err)
		}
	}
}

func TestSampleScalarClearsHighBits(t *testing.T) {
	ff := bytes.NewReader(bytes.Repeat([]byte{0xff}, 32))
	s, err := sampleScalar(ff)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{0xff}, 32)
	want[31] = 0x0f
	if got := s.Encode(nil); !bytes.Equal(got, want) {
		t.Errorf("sample_scalar(ff..ff) = %x, want %x", got, want)
	}
	if _, err := sampleScalar(bytes.NewReader(make([]byte, 10))); err == nil {
		t.Error("sample_scalar with a short random source did not fail")
	}
}

func TestRoundTrip(t *testing.T) {
	ci := []byte("channel")
	sid := make([]byte, 32)
	rand.Read(sid)
	ini, ya, err := NewInitiator([]byte("ABCDEFGH"), ci, sid, []byte("host"), nil)
	if err != nil {
		t.Fatal(err)
	}
	yb, iskB, err := Respond([]byte("ABCDEFGH"), ci, sid, ya, []byte("host"), []byte("viewer"), nil)
	if err != nil {
		t.Fatal(err)
	}
	iskA, err := ini.Finish(yb, []byte("viewer"))
	if err != nil {
		t.Fatal(err)
	}
	if len(iskA) != ISKSize || !bytes.Equal(iskA, iskB) {
		t.Fatalf("ISKs differ: %x / %x", iskA, iskB)
	}
}

func TestMismatch(t *testing.T) {
	sid := []byte("0123456789abcdef")
	for _, tc := range []struct {
		name             string
		prsB, ciB, sidB  []byte
		adInitB, adRespA []byte
	}{
		{"wrong PRS", []byte("ABCDEFGJ"), []byte("ci"), sid, []byte("a"), []byte("b")},
		{"wrong CI", []byte("ABCDEFGH"), []byte("cj"), sid, []byte("a"), []byte("b")},
		{"wrong sid", []byte("ABCDEFGH"), []byte("ci"), []byte("0123456789abcdeF"), []byte("a"), []byte("b")},
		{"different ADa view", []byte("ABCDEFGH"), []byte("ci"), sid, []byte("x"), []byte("b")},
		{"different ADb view", []byte("ABCDEFGH"), []byte("ci"), sid, []byte("a"), []byte("y")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ini, ya, err := NewInitiator([]byte("ABCDEFGH"), []byte("ci"), sid, []byte("a"), nil)
			if err != nil {
				t.Fatal(err)
			}
			yb, iskB, err := Respond(tc.prsB, tc.ciB, tc.sidB, ya, tc.adInitB, []byte("b"), nil)
			if err != nil {
				t.Fatal(err)
			}
			iskA, err := ini.Finish(yb, tc.adRespA)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(iskA, iskB) {
				t.Fatal("ISKs match although the inputs differ")
			}
		})
	}
}

// FuzzDecodePeerElement feeds arbitrary bytes as the peer's share to both roles. Nothing may
// panic, and a share is accepted only if it is the canonical encoding of a non-identity element.
func FuzzDecodePeerElement(f *testing.F) {
	f.Add(unhex(f, vecYA))
	f.Add(unhex(f, vecYB))
	f.Add(make([]byte, 32))
	f.Add(unhex(f, "2b3c6b8c4f3800e7aef6864025b4ed79bd599117e427c41bd47d93d654b4a51c"))
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, y []byte) {
		var e ristretto255.Element
		valid := e.Decode(y) == nil && e.Equal(ristretto255.NewElement().Zero()) == 0
		if valid && !bytes.Equal(e.Encode(nil), y) {
			t.Fatalf("accepted non-canonical encoding %x", y)
		}
		_, _, err := Respond(vecPRS, vecCI, nil, y, nil, nil, nil)
		if (err == nil) != valid {
			t.Fatalf("Respond(%x): err = %v, valid = %v", y, err, valid)
		}
		ini, _, err := NewInitiator(vecPRS, vecCI, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ini.Finish(y, nil); (err == nil) != valid {
			t.Fatalf("Finish(%x): err = %v, valid = %v", y, err, valid)
		}
	})
}

func sha512Sum(b []byte) []byte {
	h := sha512.Sum512(b)
	return h[:]
}
