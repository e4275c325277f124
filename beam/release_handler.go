package beam

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ergo-services/ergo/etf"

	"github.com/beamup/beamup/otprel"
)

// ReleaseStatus is one entry of release_handler:which_releases/0.
type ReleaseStatus struct {
	Name    string
	Version string
	Libs    []string
	// Status is permanent, current, old or unpacked.
	Status string
}

// WhichReleases lists the releases release_handler knows.
func (c *Client) WhichReleases(ctx context.Context) ([]ReleaseStatus, error) {
	t, err := c.Call(ctx, "release_handler", "which_releases")
	if err != nil {
		return nil, err
	}
	list, ok := t.(etf.List)
	if !ok {
		return nil, fmt.Errorf("which_releases: unexpected answer %s", otprel.Format(t))
	}
	var out []ReleaseStatus
	for _, e := range list {
		r, ok := e.(etf.Tuple)
		if !ok || len(r) != 4 {
			return nil, fmt.Errorf("which_releases: unexpected entry %s", otprel.Format(e))
		}
		var rs ReleaseStatus
		rs.Name, _ = otprel.String(r[0])
		rs.Version, _ = otprel.String(r[1])
		if libs, ok := r[2].(etf.List); ok {
			for _, l := range libs {
				s, _ := otprel.String(l)
				rs.Libs = append(rs.Libs, s)
			}
		}
		rs.Status = fmt.Sprint(r[3])
		out = append(out, rs)
	}
	return out, nil
}

// Current returns the release the node runs now: the one marked current
// (installed but not permanent) or else the permanent one.
func Current(rels []ReleaseStatus) (ReleaseStatus, bool) {
	for _, r := range rels {
		if r.Status == "current" {
			return r, true
		}
	}
	return Permanent(rels)
}

// Permanent returns the permanent release.
func Permanent(rels []ReleaseStatus) (ReleaseStatus, bool) {
	for _, r := range rels {
		if r.Status == "permanent" {
			return r, true
		}
	}
	return ReleaseStatus{}, false
}

// SetUnpacked registers as unpacked the release whose files are in place
// and whose .rel is relFile; it returns the version.
func (c *Client) SetUnpacked(ctx context.Context, relFile string) (string, error) {
	t, err := c.Call(ctx, "release_handler", "set_unpacked", relFile, etf.List{})
	if err != nil {
		return "", err
	}
	return okString("set_unpacked", t)
}

// CheckInstallRelease checks that vsn can be installed and returns the
// version it would upgrade from.
func (c *Client) CheckInstallRelease(ctx context.Context, vsn string) (string, error) {
	t, err := c.Call(ctx, "release_handler", "check_install_release", vsn)
	if err != nil {
		return "", err
	}
	return okString("check_install_release", t)
}

// InstallOptions are passed to install_release/2.
type InstallOptions struct {
	// SuspendTimeout bounds how long a process may take to suspend.
	SuspendTimeout time.Duration
	// CodeChangeTimeout bounds each process's code_change.
	CodeChangeTimeout time.Duration
}

// InstallRelease runs install_release(vsn, Opts) and returns the version it
// upgraded from. install_release itself has no timeout: ctx is its bound.
// When it fails after its point of no return the node restarts by itself.
func (c *Client) InstallRelease(ctx context.Context, vsn string, opts InstallOptions) (string, error) {
	o := etf.List{}
	if opts.SuspendTimeout > 0 {
		o = append(o, etf.Tuple{etf.Atom("suspend_timeout"), int(opts.SuspendTimeout.Milliseconds())})
	}
	if opts.CodeChangeTimeout > 0 {
		o = append(o, etf.Tuple{etf.Atom("code_change_timeout"), int(opts.CodeChangeTimeout.Milliseconds())})
	}
	t, err := c.Call(ctx, "release_handler", "install_release", vsn, o)
	if err != nil {
		return "", err
	}
	if why := codeChangeFailed(t); why != "" {
		return "", fmt.Errorf("install_release: %s", why)
	}
	return okString("install_release", t)
}

// codeChangeFailed summarises {error, {code_change_failed, Pid, Mod, Vsn,
// {'EXIT', {Reason, Stack}}}} as one line; "" for any other answer.
func codeChangeFailed(t etf.Term) string {
	e, ok := t.(etf.Tuple)
	if !ok || len(e) != 2 || e[0] != etf.Atom("error") {
		return ""
	}
	f, ok := e[1].(etf.Tuple)
	if !ok || len(f) != 5 || f[0] != etf.Atom("code_change_failed") {
		return ""
	}
	why := fmt.Sprintf("code_change of %s failed", otprel.Format(f[2]))
	if exit, ok := f[4].(etf.Tuple); ok && len(exit) == 2 {
		if rs, ok := exit[1].(etf.Tuple); ok && len(rs) == 2 {
			why += ": " + otprel.Format(rs[0])
			if stack, ok := rs[1].(etf.List); ok {
				for _, fr := range stack {
					if frame, ok := fr.(etf.Tuple); ok && len(frame) == 4 && frame[0] == f[2] {
						why += fmt.Sprintf(" in %s:%s%s", otprel.Format(frame[0]), otprel.Format(frame[1]), location(frame[3]))
						break
					}
				}
			}
		} else {
			why += ": " + otprel.Format(exit[1])
		}
	}
	return why
}

// location reads [{file, F}, {line, L}] of a stack frame as " (F:L)".
func location(t etf.Term) string {
	var file, line string
	if l, ok := t.(etf.List); ok {
		for _, p := range l {
			if kv, ok := p.(etf.Tuple); ok && len(kv) == 2 {
				switch kv[0] {
				case etf.Atom("file"):
					file, _ = otprel.String(kv[1])
				case etf.Atom("line"):
					line = otprel.Format(kv[1])
				}
			}
		}
	}
	if file == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%s)", filepath.Base(file), line)
}

// MakePermanent makes vsn the release the node boots.
func (c *Client) MakePermanent(ctx context.Context, vsn string) error {
	return c.okCall(ctx, "make_permanent", vsn)
}

// RemoveRelease removes an installed or unpacked release and its files.
func (c *Client) RemoveRelease(ctx context.Context, vsn string) error {
	return c.okCall(ctx, "remove_release", vsn)
}

// SetRemoved marks a release removed without touching its files.
func (c *Client) SetRemoved(ctx context.Context, vsn string) error {
	return c.okCall(ctx, "set_removed", vsn)
}

// CreateRELEASES writes releases/RELEASES for the release whose .rel file
// is relFile and makes release_handler read it again, without a restart
// of the node.
func (c *Client) CreateRELEASES(ctx context.Context, root, relFile string) error {
	t, err := c.Call(ctx, "release_handler", "create_RELEASES", root, root+"/releases", relFile, etf.List{})
	if err != nil {
		return err
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("create_RELEASES: %s", otprel.Format(t))
	}
	// release_handler reads RELEASES only when it starts.
	if t, err = c.Call(ctx, "supervisor", "terminate_child", etf.Atom("sasl_sup"), etf.Atom("release_handler")); err != nil {
		return err
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("stopping release_handler: %s", otprel.Format(t))
	}
	if t, err = c.Call(ctx, "supervisor", "restart_child", etf.Atom("sasl_sup"), etf.Atom("release_handler")); err != nil {
		return err
	}
	if r, ok := t.(etf.Tuple); !ok || len(r) < 2 || r[0] != etf.Atom("ok") {
		return fmt.Errorf("restarting release_handler: %s", otprel.Format(t))
	}
	return nil
}

func (c *Client) okCall(ctx context.Context, fun string, args ...etf.Term) error {
	t, err := c.Call(ctx, "release_handler", fun, args...)
	if err != nil {
		return err
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("%s: %s", fun, otprel.Format(t))
	}
	return nil
}

// okString reads {ok, Vsn} or {ok, Vsn, Descr}.
func okString(fun string, t etf.Term) (string, error) {
	if r, ok := t.(etf.Tuple); ok && len(r) >= 2 && r[0] == etf.Atom("ok") {
		if s, ok := otprel.String(r[1]); ok {
			return s, nil
		}
	}
	return "", fmt.Errorf("%s: %s", fun, otprel.Format(t))
}

// RebootOldRelease makes the old release vsn permanent and reboots the
// node on it (init:reboot: the emulator exits and its supervisor starts it
// again). The call may not get an answer before the node goes down.
func (c *Client) RebootOldRelease(ctx context.Context, vsn string) error {
	err := c.okCall(ctx, "reboot_old_release", vsn)
	if errors.Is(err, ErrNodeDown) {
		return nil
	}
	return err
}

// MarkBootOnce records in root's releases/RELEASES that the unpacked
// release vsn is to be taken as current when a node boots it, as
// release_handler itself does before it restarts the emulator for a
// relup's restart_emulator (status tmp_current): the node booted on vsn
// then reports it current, so that make_permanent accepts it, and a node
// booted on anything else reports it unpacked again. The file is
// replaced by a rename; the caller syncs it to disk.
func (c *Client) MarkBootOnce(ctx context.Context, root, vsn string) error {
	t, err := c.EvalWith(ctx, `
		File = filename:join([Root, "releases", "RELEASES"]),
		V = unicode:characters_to_list(Vsn),
		{ok, [Rs]} = file:consult(File),
		case lists:keyfind(V, 3, Rs) of
		    {release, _, _, _, _, S} when S =:= unpacked; S =:= tmp_current ->
		        New = [case R of
		                   {release, N, V, E, L, _} -> {release, N, V, E, L, tmp_current};
		                   _ -> R
		               end || R <- Rs],
		        Tmp = File ++ ".beamup",
		        ok = file:write_file(Tmp, io_lib:format("~p.~n", [New])),
		        ok = file:rename(Tmp, File);
		    {release, _, _, _, _, S} -> {status, S};
		    false -> not_unpacked
		end.`, map[string]etf.Term{"Root": root, "Vsn": vsn})
	if err != nil {
		return fmt.Errorf("marking %s to boot once: %w", vsn, err)
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("marking %s to boot once: %s", vsn, otprel.Format(t))
	}
	return nil
}

// MakeRelup makes releases/VSN/relup of the release in newRel from and to
// the release in oldRel (.rel files under root), from the appups of the
// applications under root/lib, with the node's own systools.
func (c *Client) MakeRelup(ctx context.Context, root, oldRel, newRel string) error {
	t, err := c.EvalWith(ctx, `
		Path = filelib:wildcard(filename:join([Root, "lib", "*", "ebin"])),
		Old = filename:rootname(Old0), New = filename:rootname(New0),
		case systools:make_relup(New, [Old], [Old], [{path, Path}, {outdir, filename:dirname(New0)}, silent]) of
		    {ok, _, _, _} -> ok;
		    {error, Mod, Why} -> {error, unicode:characters_to_binary(Mod:format_error(Why))};
		    Other -> Other
		end.`, map[string]etf.Term{"Root": root, "Old0": oldRel, "New0": newRel})
	if err != nil {
		return fmt.Errorf("making the relup: %w", err)
	}
	if t != etf.Atom("ok") {
		return fmt.Errorf("making the relup: %s", otprel.Format(t))
	}
	return nil
}
