package compose

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
)

// ErrCharset is returned, wrapped with what to do, when the text is not
// in the charset it is said to be typed in and no charset of sendcharsets
// can take it as it is: mail must never label as UTF-8 what is not.
var ErrCharset = errors.New("cannot tell the text's charset")

// isUTF8Name: the names UTF-8 goes by in locales and in MIME.
func isUTF8Name(cs string) bool {
	switch strings.ToLower(strings.ReplaceAll(cs, "-", "")) {
	case "", "utf8":
		return true
	}
	return false
}

// lookupCharset finds a charset by its MIME name; nil and an error for
// one we do not know.
func lookupCharset(name string) (encoding.Encoding, string, error) {
	enc, err := ianaindex.MIME.Encoding(name)
	if err == nil && enc == nil {
		err = errors.New("not supported")
	}
	if err != nil {
		return nil, "", fmt.Errorf("charset %q: %w", name, err)
	}
	canon, err := ianaindex.MIME.Name(enc)
	if err != nil {
		canon = name
	}
	return enc, strings.ToLower(canon), nil
}

// decodeText is b, typed in charset input (a locale's charset; "" is
// UTF-8), as UTF-8 text; ok is false when b is not valid in it.
func decodeText(b []byte, input string) (string, bool, error) {
	if isUTF8Name(input) {
		return string(b), utf8.Valid(b), nil
	}
	enc, _, err := lookupCharset(input)
	if err != nil {
		return "", false, err
	}
	s, err := enc.NewDecoder().Bytes(b)
	if err != nil || strings.ContainsRune(string(s), utf8.RuneError) {
		return "", false, nil
	}
	return string(s), true, nil
}

// textCharset picks the charset the text part goes out in, as s-nail does
// with sendcharsets: the text, read in the charset it was typed in
// (input), goes out in the first charset of send that can hold every
// character of it, else in UTF-8, which holds any. Text that is not valid
// in input (Latin-1 bytes typed in a UTF-8 locale, say) is sent as it is,
// labelled with the first 8-bit charset of send in which every byte
// means a character; when send names none, ErrCharset says so.
func textCharset(b []byte, input string, send []string) ([]byte, string, error) {
	text, ok, err := decodeText(b, input)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		for _, cs := range send {
			if isUTF8Name(cs) {
				continue
			}
			enc, canon, err := lookupCharset(cs)
			if err != nil {
				return nil, "", err
			}
			if s, err := enc.NewDecoder().Bytes(b); err == nil && !strings.ContainsRune(string(s), utf8.RuneError) {
				return b, canon, nil
			}
		}
		where := "UTF-8"
		if !isUTF8Name(input) {
			where = input
		}
		return nil, "", fmt.Errorf("%w: the text is not valid %s (the locale's charset); set the locale to the charset it is in, or sendcharsets (say, sendcharsets=iso-8859-1)", ErrCharset, where)
	}
	for _, cs := range send {
		if isUTF8Name(cs) {
			return []byte(text), "utf-8", nil
		}
		enc, canon, err := lookupCharset(cs)
		if err != nil {
			return nil, "", err
		}
		if out, err := enc.NewEncoder().Bytes([]byte(text)); err == nil {
			return out, canon, nil
		}
	}
	return []byte(text), "utf-8", nil
}

// maxEncodedWord is RFC 2047 2's limit on an encoded word; maxFolded its
// limit on a header line holding encoded words (section 2, 76 octets).
const (
	maxEncodedWord = 75
	maxFolded      = 76
)

// encodeWords writes UTF-8 text as RFC 2047 Q-encoded words separated by
// spaces, where the header writer folds: the first fits the room after
// "Name: " on the field's first line, every other one a line of its own,
// and no character is split between two words (RFC 2047 5(3)).
func encodeWords(field, text string) string {
	const open, end = "=?utf-8?q?", "?="
	room := maxFolded - len(field) - len(": ")
	var words []string
	var w strings.Builder
	for _, r := range text {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r > ' ' && r < 0x7f && !strings.ContainsRune("=?_()\"", r):
			enc = string(r)
		default:
			var b [utf8.UTFMax]byte
			n := utf8.EncodeRune(b[:], r)
			for _, c := range b[:n] {
				enc += fmt.Sprintf("=%02X", c)
			}
		}
		if w.Len() > 0 && len(open)+w.Len()+len(enc)+len(end) > min(room, maxEncodedWord) {
			words = append(words, open+w.String()+end)
			w.Reset()
			room = maxFolded - 1 // a continuation line: one space, then the word
		}
		w.WriteString(enc)
	}
	if w.Len() > 0 {
		words = append(words, open+w.String()+end)
	}
	return strings.Join(words, " ")
}

// toUTF8 converts text in charset cs to UTF-8.
func toUTF8(b []byte, cs string) ([]byte, error) {
	enc, _, err := lookupCharset(cs)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Bytes(b)
}
