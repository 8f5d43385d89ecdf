package auth

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Passwords chosen to cross the schemes' edges: empty, non-ASCII, longer
// than one SHA-512 block, longer than bcrypt's 72 bytes.
var toolPasswords = []string{
	"hunter2",
	"s3cret pässwörd with spaces",
	strings.Repeat("0123456789", 9),
}

// needTool finds a hash-making program, which CI must have.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing", name)
		}
		t.Skipf("%s is missing", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

// toolHashes makes hashes of pw with every real tool at hand: libc's
// crypt(3) through python3, openssl passwd, and mkpasswd (libxcrypt).
// Debian's default yescrypt cost is slow under -race, so it is made
// only when withDefaultYescrypt.
func toolHashes(t *testing.T, pw string, withDefaultYescrypt bool) map[string]string {
	py := needTool(t, "python3")
	openssl := needTool(t, "openssl")
	mkpasswd := needTool(t, "mkpasswd")
	script := `
import crypt, sys
pw = sys.argv[1]
for m in (crypt.METHOD_SHA512, crypt.METHOD_SHA256, crypt.METHOD_MD5):
    print(m.name, crypt.crypt(pw, crypt.mksalt(m)))
# Low costs: these run under -race, where bcrypt and yescrypt crawl.
print("BLOWFISH", crypt.crypt(pw, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))
print("YESCRYPT", crypt.crypt(pw, "$y$j7T$F5Jx5fExrKuPp53xLKQ..1$"))
`
	h := map[string]string{}
	for _, line := range strings.Split(run(t, py, "-W", "ignore", "-c", script, pw), "\n") {
		name, hash, _ := strings.Cut(line, " ")
		h["python crypt "+name] = hash
	}
	for _, m := range []string{"-1", "-5", "-6"} {
		h["openssl passwd "+m] = run(t, openssl, "passwd", m, pw)
	}
	methods := [][]string{
		{"-m", "yescrypt", "-R", "1"}, {"-m", "bcrypt", "-R", "4"}, {"-m", "bcrypt-a", "-R", "4"},
		{"-m", "sha-512", "-R", "5000"}, {"-m", "sha-256", "-R", "1000"}, {"-m", "sha-512"}, {"-m", "md5crypt"},
	}
	if withDefaultYescrypt {
		methods = append(methods, []string{"-m", "yescrypt"})
	}
	for _, m := range methods {
		h["mkpasswd "+strings.Join(m, " ")] = run(t, mkpasswd, append(m, pw)...)
	}
	return h
}

func TestVerifyAcceptsHashesMadeByRealTools(t *testing.T) {
	for i, pw := range toolPasswords {
		for tool, hash := range toolHashes(t, pw, i == 0) {
			t.Run(tool, func(t *testing.T) {
				t.Parallel()
				for _, try := range []string{pw, pw + "x", pw[:len(pw)-1], ""} {
					want := try == pw
					if strings.HasPrefix(hash, "$2") {
						// bcrypt, in libc too, reads only 72 bytes.
						want = bcryptPrefix(try) == bcryptPrefix(pw)
					}
					ok, err := Verify(hash, try)
					if err != nil || ok != want {
						t.Errorf("Verify(%q, %q) = %v, %v; want %v", hash, try, ok, err, want)
					}
				}
			})
		}
	}
}

func bcryptPrefix(pw string) string { return pw[:min(len(pw), bcryptMaxPassword)] }

// Known answers, made once with openssl passwd, mkpasswd and python3's
// crypt on Debian 12 (libxcrypt 4.4.33).
var knownAnswers = []struct{ hash, pw string }{
	{"$6$kat6salt$M6TTpuA4o1OD3LKi5VqiehPnhDITfPZoHCSaDiIY7UeStgQz4Vh4YmESn.UM2isYaX3KVLGbOOT6TSDJBqeTT.", "hunter2"},
	{"$5$kat5saltlongerth$54CYGcoIgOZrT.s7EmbEHkRFCpNdrTVsr3JIdexgzt6", "hunter2"},
	{"$1$kat1salt$JuANIurVHQ4dEbbOM5VGY/", "hunter2"},
	{"$6$rounds=1000$katroundssalt$ziR6MSwyHWTmH4YE8VoaqSESwxXZ72eJ45u7v5wja/SMTtjNpU42y0UWOdK0HRZyTGWfh9jAuJw7YloTi0lAx.", "hunter2"},
	{"$2b$05$D29RvIWyOE32tTj6X5k3nueDHBA.idXBEEFirXviVPVSch2M4MTwq", "hunter2"},
	{"$y$j9T$40GmzhAwtmGvWG.F3BUev1$BIRfh7jA4r3CAkvDmC66xNyuYfsV3XBcgGnjgDq5Lj0", "hunter2"},
	{"$6$kat6salt$RfqO2Cpr5ptjapY4Xn/gABDLIuj5bFp8Uk5skdpx3Sem/LVPyoxfl/ujQ23KvVHhJFgYUT6emjq0kgONK0UBA1", "correct horse battery staple"},
	{"$5$kat5saltlongerth$k04qiYjDpymEwdGAbRc/Eyas6rvahQ72LjWqOR1wCf/", "correct horse battery staple"},
	{"$1$kat1salt$WhhTUEMmZTDT/2kZgSKlQ1", "correct horse battery staple"},
	{"$6$rounds=1000$katroundssalt$XIJ.q0Z1pXQvr80vNsNpX6i25/2JSRvAdW0y2WwfTCqKcaoAaAhCiLMpkDw7v7t.MQG8tXPbX95WiaxeBSRYv1", "correct horse battery staple"},
	{"$2b$05$DvQ6CJcHZCvbnSIR2IAj.e8IeVGa48yCIJEWaFUzMxaUO0hrv4Z3.", "correct horse battery staple"},
	{"$y$j75$J0eGfrQCgOYF7GJUBBsJm1$5Cdq2dSlRaCHwhymj282ZSENo29.3blL/TTa7sWFX9C", "correct horse battery staple"},
	{"$6$emptypw$TWmzQ8/uLn1BFSZ5Lkfum8lAba5vixF9Nl3Aiof.Praatq9nh0kkPuTdoVrIL6du0L6LAoadbPq.q.D7keveg/", ""},
	{"$1$empty$dcN8YAzH./JGClDgyY17..", ""},
	{"$6$rounds=5000$abc$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5.", "pw"},
	{"$6$abc$MtSdWSZbhct2oe.SOqOUM2M/GA/uj5.vyVtJgRHgKi9uqXuWuJqOYE7H/YlsYGVg/YYzDV0xt3fEIwYt580.5.", "pw"},
	{"$6$$Z7WSO9A8tKGD2oGB9t2ViKdYTIHgnjMZIbdOJElGnO.QoZE5zDsfnF1WHM.IL2KPxhNG4/v/zU9LBcGhxg5Uy.", "pw"},
	{"$y$j7T$saltsaltsaltsalt$Kik/uPyjLgqvloMDPM2jM9Z2aizzgOWv7q2MGYcAI7B", "pässwörd"},
}

func TestVerifyMatchesKnownAnswers(t *testing.T) {
	for _, ka := range knownAnswers {
		ok, err := Verify(ka.hash, ka.pw)
		if err != nil || !ok {
			t.Errorf("Verify(%q, %q) = %v, %v; want true", ka.hash, ka.pw, ok, err)
		}
		if ok, err := Verify(ka.hash, ka.pw+"!"); err != nil || ok {
			t.Errorf("Verify(%q, wrong password) = %v, %v; want false", ka.hash, ok, err)
		}
	}
}

func TestVerifyNeverMatchesLockedHashes(t *testing.T) {
	good := knownAnswers[0]
	for _, h := range []string{"", "x", "*", "!", "!!", "*LK*", "!" + good.hash, "!!" + good.hash} {
		ok, err := Verify(h, good.pw)
		if ok {
			t.Errorf("Verify(%q) matched", h)
		}
		if err != nil && Locked(h) {
			t.Errorf("Verify(%q): %v; a locked hash is no error", h, err)
		}
	}
}

func TestVerifyRefusesUnknownAndMalformedHashesWithoutQuotingThePassword(t *testing.T) {
	const pw = "Sekr1t-pw"
	for _, c := range []struct{ hash, wantErr string }{
		{"abJnggxhB/yWI", "unsupported hash scheme DES"},
		{"$7$CU..../....xyz$abc", "unsupported hash scheme $7$"},
		{"$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA", "unsupported hash scheme $argon2id$"},
		{"$gy$j9T$salt$hash", "unsupported hash scheme $gy$"},
		{"$6$rounds=999$salt$hash", "rounds"},
		{"$6$rounds=1000000000$salt$hash", "rounds"},
		{"$6$rounds=01000$salt$hash", "rounds"},
		{"$6$rounds=$salt$hash", "rounds"},
		{"$y$jZZ$salt$hash", "yescrypt"},
		{"$2b$99$D29RvIWyOE32tTj6X5k3nueDHBA.idXBEEFirXviVPVSch2M4MTwq", "bcrypt"},
	} {
		ok, err := Verify(c.hash, pw)
		if ok || err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("Verify(%q) = %v, %v; want an error with %q", c.hash, ok, err, c.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("Verify(%q): the error quotes the password: %v", c.hash, err)
		}
	}
}

// A hash that is well-formed but of another salt or truncated must not
// match, even though the scheme recomputes it from the salt alone.
func TestVerifyComparesTheWholeHash(t *testing.T) {
	good := knownAnswers[0]
	for _, h := range []string{
		good.hash[:len(good.hash)-1],
		good.hash + "A",
		strings.Replace(good.hash, "kat6salt", "kat6salT", 1),
		good.hash[:strings.LastIndexByte(good.hash, '$')+1],
		good.hash[:strings.LastIndexByte(good.hash, '$')],
	} {
		if ok, _ := Verify(h, good.pw); ok {
			t.Errorf("Verify(%q) matched", h)
		}
	}
}

func FuzzVerify(f *testing.F) {
	for _, ka := range knownAnswers {
		f.Add(ka.hash, ka.pw)
	}
	f.Add("$5$rounds=1000$", "")
	f.Add("$1$", "x")
	f.Add("$y$", "x")
	f.Add("$2b$", "x")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		// Keep fuzzing fast: high costs are legal but slow (bcrypt's 31
		// is 2^31 rounds, yescrypt's top N and r a gigabyte).
		switch {
		case strings.Contains(hash, "rounds=") && !strings.Contains(hash, "rounds=1000$"),
			strings.HasPrefix(hash, "$2") && len(hash) > 6 && hash[4:6] > "05",
			strings.HasPrefix(hash, "$y$") && len(hash) > 5 && (strings.IndexByte(crypt64, hash[4]) > strings.IndexByte(crypt64, '9') ||
				strings.IndexByte(crypt64, hash[5]) > strings.IndexByte(crypt64, 'T')):
			t.Skip()
		}
		ok, err := Verify(hash, pw)
		if ok && err != nil {
			t.Fatalf("Verify(%q) = true with error %v", hash, err)
		}
		if ok && Locked(hash) {
			t.Fatalf("locked hash %q matched", hash)
		}
		if err != nil && len(pw) >= 6 && strings.Contains(err.Error(), pw) && !strings.Contains(hash, pw) {
			t.Fatalf("error quotes the password: %v", err)
		}
	})
}
