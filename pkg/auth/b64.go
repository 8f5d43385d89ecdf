package auth

// crypt64 is the alphabet of crypt(3)'s base-64 encoding, which, unlike
// RFC 4648, starts with "./" and puts digits before letters.
const crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// put24 appends n characters for the 24-bit value w, least significant six
// bits first, as the md5-crypt and SHA-crypt encoders do.
func put24(out []byte, w uint32, n int) []byte {
	for range n {
		out = append(out, crypt64[w&0x3f])
		w >>= 6
	}
	return out
}

// encodeGroups encodes sum in the byte order the scheme prescribes: each
// group of three indices forms one 24-bit value, first index highest.
// tail lists the last one or two indices, which yield tailChars characters.
func encodeGroups(sum []byte, groups [][3]int, tail []int, tailChars int) string {
	out := make([]byte, 0, 4*len(groups)+tailChars)
	for _, g := range groups {
		out = put24(out, uint32(sum[g[0]])<<16|uint32(sum[g[1]])<<8|uint32(sum[g[2]]), 4)
	}
	var w uint32
	for _, i := range tail {
		w = w<<8 | uint32(sum[i])
	}
	return string(put24(out, w, tailChars))
}
