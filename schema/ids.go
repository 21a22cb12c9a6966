package schema

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Chinese national identifiers, validated offline.
//
// # Resident identity number (GB 11643-1999)
//
//	RRRRRR YYYYMMDD SSS C
//
// R: administrative region code, its first two digits a province-level
// code (11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82); YYYYMMDD: the
// birth date; S: sequence (odd for men, even for women); C: check
// character, (12 − Σ digit·weight mod 11) mod 11 with weights
// 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2, written as 0–9 or X for 10.
//
// The birth date must be a real date from 1900-01-01 to 2099-12-31. The
// validator is pure and does not read the clock, so "born in the future"
// within that range is accepted; callers that care compare against their
// own clock.
//
// # Unified social credit code (GB 32100-2015)
//
//	A B RRRRRR OOOOOOOOO C
//
// A: registration authority; B: organization type; R: region code (6
// digits); O: organization code (9 characters); C: check character. The
// alphabet is the 31 characters 0–9 and A–Y without I, O, Z, S and V; the
// check character is 31 − (Σ value·weight mod 31), with 31 written as 0, and
// weights 1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28 (3^i mod 31).
// Validation checks the alphabet, the digit-only region code and the
// check character; the authority and type codes are not enumerated.

var citizenWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const citizenCheck = "10X98765432"

// CanonicalCitizenID validates an 18-character resident identity number
// and returns it with a lowercase check character 'x' upper-cased.
func CanonicalCitizenID(s string) (string, error) {
	if len(s) != 18 {
		return "", fmt.Errorf("citizen id must be 18 characters, got %d", len(s))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return "", fmt.Errorf("citizen id character %d must be a digit", i+1)
		}
		sum += int(c-'0') * citizenWeights[i]
	}
	if !validProvince(s[0:2]) {
		return "", fmt.Errorf("citizen id region %s is not a province code", s[0:6])
	}
	birth, err := time.Parse("20060102", s[6:14])
	if err != nil || birth.Year() < 1900 || birth.Year() > 2099 {
		return "", fmt.Errorf("citizen id birth date %s is not a date in 1900–2099", s[6:14])
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	if want := citizenCheck[sum%11]; last != want {
		return "", fmt.Errorf("citizen id check character is %c, want %c", s[17], want)
	}
	return s[:17] + string(last), nil
}

func validProvince(p string) bool {
	switch p[0] {
	case '1':
		return p[1] >= '1' && p[1] <= '5'
	case '2':
		return p[1] >= '1' && p[1] <= '3'
	case '3':
		return p[1] >= '1' && p[1] <= '7'
	case '4':
		return p[1] >= '1' && p[1] <= '6'
	case '5':
		return p[1] >= '0' && p[1] <= '4'
	case '6':
		return p[1] >= '1' && p[1] <= '5'
	case '7':
		return p[1] == '1'
	case '8':
		return p[1] == '1' || p[1] == '2'
	}
	return false
}

// CitizenIDCheck returns the check character for the first 17 digits of a
// resident identity number; it is how test data and simulators make
// valid numbers.
func CitizenIDCheck(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, errors.New("need 17 digits")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, errors.New("need 17 digits")
		}
		sum += int(c-'0') * citizenWeights[i]
	}
	return citizenCheck[sum%11], nil
}

const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var creditWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

func creditValue(c byte) int {
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	return strings.IndexByte(creditAlphabet, c)
}

// CanonicalCreditCode validates an 18-character unified social credit code
// and returns it upper-cased.
func CanonicalCreditCode(s string) (string, error) {
	if len(s) != 18 {
		return "", fmt.Errorf("credit code must be 18 characters, got %d", len(s))
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("credit code region %s must be 6 digits", s[2:8])
		}
	}
	check, err := CreditCodeCheck(s[:17])
	if err != nil {
		return "", err
	}
	if v := creditValue(s[17]); v < 0 {
		return "", fmt.Errorf("credit code character 18 %q is not in the alphabet", s[17])
	} else if creditAlphabet[v] != check {
		return "", fmt.Errorf("credit code check character is %c, want %c", s[17], check)
	}
	return strings.ToUpper(s), nil
}

// CreditCodeCheck returns the check character for the first 17 characters
// of a unified social credit code.
func CreditCodeCheck(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, errors.New("need 17 characters")
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := creditValue(first17[i])
		if v < 0 {
			return 0, fmt.Errorf("credit code character %d %q is not in the alphabet", i+1, first17[i])
		}
		sum += v * creditWeights[i]
	}
	return creditAlphabet[(31-sum%31)%31], nil
}
