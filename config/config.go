// Package config reads beamupd's TOML configuration strictly: an unknown
// key or a value of the wrong type is an error naming the file, the line
// and the key. The decoder is BurntSushi/toml, which is 64 KiB smaller in
// beamupd than go-toml.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/beamup/beamup/board"
)

// DefaultPath is where beamupd looks when neither --config nor
// BEAMUPD_CONFIG says otherwise.
const DefaultPath = "/etc/beamup/beamupd.toml"

// Config is beamupd's configuration. Key names are part of the contract.
type Config struct {
	Path   string `toml:"-"` // the file it was read from
	Device Device `toml:"device"`
	Trust  Trust  `toml:"trust"`
	Node   Node   `toml:"node"`
	Health Health `toml:"health"`
	MQTT   MQTT   `toml:"mqtt"`
	Serial Serial `toml:"serial"`
	Agent  Agent  `toml:"agent"`
}

type Device struct {
	ID       string `toml:"id"`
	Board    string `toml:"board"`
	StateDir string `toml:"state_dir"`
	// Watchdog is the hardware watchdog device (such as /dev/watchdog)
	// that the main loop feeds; empty for none.
	Watchdog        string   `toml:"watchdog"`
	WatchdogTimeout Duration `toml:"watchdog_timeout"`
}

type Trust struct {
	PublicKeys []string `toml:"public_keys"`
	// TargetKeys sign MQTT target documents; the release keys when empty.
	TargetKeys []string `toml:"target_keys"`
}

type Node struct {
	Name        string   `toml:"name"`
	CookieFile  string   `toml:"cookie_file"`
	EPMDPort    int      `toml:"epmd_port"`
	Root        string   `toml:"root"`
	Release     string   `toml:"release"`
	Control     string   `toml:"control"`
	BootTimeout Duration `toml:"boot_timeout"`
	// CallTimeout bounds each call to the node but install_release.
	CallTimeout Duration `toml:"call_timeout"`
	// InstallTimeout bounds install_release, which has no timeout of its own.
	InstallTimeout    Duration `toml:"install_timeout"`
	SuspendTimeout    Duration `toml:"suspend_timeout"`
	CodeChangeTimeout Duration `toml:"code_change_timeout"`
}

type Health struct {
	Function string   `toml:"function"`
	Soak     Duration `toml:"soak"`
	Timeout  Duration `toml:"timeout"`
	Interval Duration `toml:"interval"`
}

type MQTT struct {
	Broker       string   `toml:"broker"`
	TopicPrefix  string   `toml:"topic_prefix"`
	Groups       []string `toml:"groups"`
	CAFile       string   `toml:"ca_file"`
	CertFile     string   `toml:"cert_file"`
	KeyFile      string   `toml:"key_file"`
	Username     string   `toml:"username"`
	PasswordFile string   `toml:"password_file"`
}

type Serial struct {
	Port string `toml:"port"`
	Baud int    `toml:"baud"`
}

type Agent struct {
	Path string `toml:"path"`
	// A new agent is tried before it replaces this one: it must say
	// READY within StartTimeout and keep its watchdog fed for Trial. It
	// gets Attempts tries.
	Trial        Duration `toml:"trial"`
	StartTimeout Duration `toml:"start_timeout"`
	Watchdog     Duration `toml:"watchdog"`
	Attempts     int      `toml:"attempts"`
}

// Duration is a TOML string such as "10s" or "1m30s".
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("not a duration (want a string such as \"10s\"): %q", text)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", text)
	}
	d.Duration = v
	return nil
}

// Load reads the configuration file and fills in defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration: %w", err)
	}
	c := &Config{Path: path}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err) // the decoder's own says the line and the key
	}
	if u := md.Undecoded(); len(u) > 0 {
		unknown := map[string]bool{}
		var lines []string
		for _, k := range u {
			unknown[k.String()] = true
			if len(k) > 1 && unknown[k[:len(k)-1].String()] {
				continue // in a table already named
			}
			// As the decoder says its own errors.
			at := "toml"
			if n := lineOf(data, k.String()); n > 0 {
				at = fmt.Sprintf("toml: line %d", n)
			}
			lines = append(lines, fmt.Sprintf("%s: %s: unknown key %s", path, at, k))
		}
		return nil, errors.New(strings.Join(lines, "; "))
	}
	if err := c.defaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// lineOf is the line where key is set, as "table.key", or 0. The decoder
// keeps no position for a key it did not decode, and a configuration is
// tables of plain keys, so the lines are read again for it.
func lineOf(data []byte, key string) int {
	table := ""
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if t, ok := strings.CutPrefix(line, "["); ok {
			t, _, _ = strings.Cut(strings.TrimLeft(t, "["), "]")
			if t = strings.TrimSpace(t); t == key {
				return i + 1
			}
			table = t + "."
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && table+strings.TrimSpace(k) == key {
			return i + 1
		}
	}
	return 0
}

func (c *Config) defaults() error {
	if c.Device.StateDir == "" {
		c.Device.StateDir = "/var/lib/beamup"
	}
	if c.Device.ID == "" {
		id, err := board.DeviceID("/")
		if err != nil {
			return err
		}
		c.Device.ID = id
	}
	if c.Device.Board == "" {
		c.Device.Board = board.BoardID("/")
	}
	if c.Node.Name == "" {
		return errors.New("[node] name is required")
	}
	if c.Node.Root == "" {
		return errors.New("[node] root is required")
	}
	if c.Node.Control == "" {
		return errors.New("[node] control is required (\"systemd:UNIT\" or \"exec:COMMAND\")")
	}
	if len(c.Trust.PublicKeys) == 0 {
		// Never install when a signature check could not run.
		return errors.New("[trust] public_keys is empty: beamupd installs nothing it cannot verify")
	}
	if c.Node.EPMDPort == 0 {
		c.Node.EPMDPort = 4369
	}
	setDefault(&c.Node.BootTimeout, 60*time.Second)
	setDefault(&c.Node.CallTimeout, 30*time.Second)
	setDefault(&c.Node.InstallTimeout, 5*time.Minute)
	setDefault(&c.Health.Timeout, 10*time.Second)
	setDefault(&c.Health.Interval, time.Second)
	if c.Health.Function != "" {
		if m, f, ok := strings.Cut(c.Health.Function, ":"); !ok || m == "" || f == "" {
			return fmt.Errorf("[health] function %q: want module:function", c.Health.Function)
		}
	}
	setDefault(&c.Agent.Trial, 30*time.Second)
	setDefault(&c.Agent.StartTimeout, time.Minute)
	setDefault(&c.Agent.Watchdog, 10*time.Second)
	if c.Agent.Attempts <= 0 {
		c.Agent.Attempts = 3
	}
	if c.MQTT.TopicPrefix == "" {
		c.MQTT.TopicPrefix = "beamup"
	}
	if c.Serial.Baud == 0 {
		c.Serial.Baud = 115200
	}
	return nil
}

func setDefault(d *Duration, v time.Duration) {
	if d.Duration == 0 {
		d.Duration = v
	}
}

// Cookie reads the node's distribution cookie.
func (c *Config) Cookie() (string, error) {
	if c.Node.CookieFile == "" {
		home, _ := os.UserHomeDir()
		c.Node.CookieFile = home + "/.erlang.cookie"
	}
	data, err := os.ReadFile(c.Node.CookieFile)
	if err != nil {
		return "", fmt.Errorf("reading the node's cookie: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
