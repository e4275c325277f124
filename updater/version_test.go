package updater

import "testing"

func TestOlder(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"1.0.0", "1.1.0", true},
		{"1.10.0", "1.9.0", false},
		{"1.2.0-rc1", "1.2.0", true},
		{"1.2", "1.2.1", true},
		{"2.0.0", "2.0.0", false},
		{"0.9.12", "0.10.0", true},
	} {
		got, err := older(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("older(%s, %s) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := older("nightly", "1.0.0"); err == nil {
		t.Error("older(nightly, 1.0.0): no error")
	}
}
