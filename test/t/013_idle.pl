# Idle reclamation: per-role idle_timeout (through a group), the global
# poolgov.idle_timeout, poolgov.terminate_idle() and the governor under
# pool pressure. Every ended client sees a FATAL that says pg_poolgov ended
# it and why; active sessions, priority sessions and superusers survive.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

# 14 connections, 3 for superusers, 1 kept for the priority role vip: a
# normal role may use 10. Pressure at 60 % of 10 = 6 connections, but only
# for sessions idle an hour until the pressure scenario lowers that.
my $node = poolgov_node('idle', max_connections => 14, conf => q{
superuser_reserved_connections = 3
poolgov.reserved_connections = 1
poolgov.priority_roles = 'vip'
poolgov.pressure_threshold = 60
poolgov.pressure_idle_timeout = 1h
});
$node->safe_psql('postgres', q{
	CREATE ROLE grp NOLOGIN;
	CREATE ROLE app LOGIN IN ROLE grp;
	CREATE ROLE other LOGIN;
	CREATE ROLE low LOGIN;
	CREATE ROLE vip LOGIN;
	CREATE ROLE padmin LOGIN IN ROLE poolgov_admin;
});

# One superuser session watches throughout (superusers are never ended, and
# a steady watcher keeps the connection count of the pressure test exact).
my $mon = session($node);

sub set_conf
{
	my ($conf) = @_;
	$node->append_conf('postgresql.conf', $conf);
	$node->reload;
	usleep(300_000);
}

# Polls a boolean query on the watcher until true, at most $secs seconds.
sub wait_for
{
	my ($sql, $secs) = @_;
	my $deadline = time + ($secs // 20);
	while (time < $deadline)
	{
		return 1 if $mon->query_safe($sql) eq 't';
		usleep(100_000);
	}
	return 0;
}

sub alive
{
	my ($pid) = @_;
	return $mon->query_safe("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid");
}

# What the client of an ended session reads when it next talks to the server.
sub client_error
{
	my ($s) = @_;
	$s->{stdin} .= "SELECT 2;\n";
	eval { $s->{run}->pump while $s->{stderr} !~ /FATAL.*\n.*\n.*HINT/s && $s->{run}->pumpable };
	my $err = $s->{stderr};
	$s->{run}->kill_kill;
	return $err;
}

# An idle session whose psql reports errors verbosely, SQLSTATE included.
sub idle_session
{
	my ($user) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	return ($s, $s->query_safe('SELECT pg_backend_pid()'));
}

# --- Per role: a budget's idle_timeout on a group ends its members' idle
# sessions, and only theirs.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('grp', 100, idle_timeout => '1s')});
my ($a1, $a1pid) = idle_session('app');
my ($o1, $o1pid) = idle_session('other');
ok(wait_for("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $a1pid"),
	'the idle session of a member of grp was ended');
my $err = client_error($a1);
like($err, qr/FATAL:  57P05: terminating connection: pg_poolgov ended this session after \d+\.\d s idle \(idle_timeout of its budget\)/,
	'the client is told pg_poolgov ended it (57P05), after how long, and by which rule');
like($err, qr/DETAIL:  The session was idle for \d+ ms; its budget in poolgov.budgets allows 1000 ms/,
	'detail with the numbers');
like($err, qr/HINT:  .*idle_timeout column of poolgov.budgets/, 'hint with the knob');
is(alive($o1pid), '1', 'a role without the rule keeps its idle session');
is($mon->query_safe(q{SELECT idle_terminated FROM poolgov.stats}), '1', 'stats.idle_terminated');
is($mon->query_safe(q{SELECT idle_terminated FROM poolgov.roles WHERE role = 'app'}), '1',
	'roles.idle_terminated for app');
is($mon->query_safe(q{SELECT coalesce(max(idle_terminated), 0) FROM poolgov.roles WHERE role = 'other'}), '0',
	'nothing for other');
like($mon->query_safe(q{SELECT role || ' ' || detail FROM poolgov.events WHERE kind = 'terminate_idle'}),
	qr/^app idle \d+ ms, over 1000 ms \(role idle_timeout\)$/, 'terminate_idle event');
ok($node->log_contains(qr/LOG:  pg_poolgov: ended idle session of role "app" in database "postgres"/),
	'LOG line');
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('grp')});

# A sub-millisecond idle_timeout is rounded up to 1 ms: read as 0 it would
# have turned the role's reclamation off.
$node->safe_psql('postgres', q{
	CREATE ROLE tiny LOGIN;
	SELECT poolgov.set_budget('tiny', 100, idle_timeout => '0.4 ms')});
my ($tiny, $tiny_pid) = idle_session('tiny');
ok(wait_for("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $tiny_pid"),
	'an idle_timeout of 0.4 ms ends idle sessions');
like(client_error($tiny), qr/its budget in poolgov.budgets allows 1 ms/, 'rounded up to 1 ms');
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('tiny')});

# --- Globally: poolgov.idle_timeout ends other's session; the superuser
# watcher (exempt) stays.
set_conf("poolgov.idle_timeout = 1s");
ok(wait_for("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $o1pid"),
	'poolgov.idle_timeout ended the idle session');
like(client_error($o1), qr/FATAL:  57P05: terminating connection: pg_poolgov ended this session after .* idle \(poolgov.idle_timeout\)/,
	'the client is told it was poolgov.idle_timeout (57P05)');
is($mon->query_safe('SELECT 1'), '1', 'the superuser session is exempt');
set_conf("poolgov.idle_timeout = 0");

# --- poolgov.terminate_idle(): admins only; ends idle sessions, never an
# active one, and says how many.
my ($t1, $t1pid) = idle_session('app');
my ($t2, $t2pid) = idle_session('app');
my ($t3, $t3pid) = idle_session('other');
my $busy = start_psql($node, 'SELECT pg_sleep(60)', user => 'app');
ok(wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'}),
	'an app session is running pg_sleep');
my $busy_pid = $mon->query_safe(q{SELECT pid FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'});
usleep(300_000);
my ($rc, $out, $stderr) = $node->psql('postgres', q{SELECT poolgov.terminate_idle('app', '100 ms')},
	extra_params => [ '-U', 'other' ]);
like($stderr, qr/permission denied for function terminate_idle/, 'others may not (42501)');
is($node->safe_psql('postgres', q{SET ROLE padmin; SELECT poolgov.terminate_idle('app', '1 h')}), '0',
	'nothing idle an hour: 0');
is($node->safe_psql('postgres', q{SELECT poolgov.terminate_idle('app', '100 ms')},
		extra_params => [ '-U', 'padmin' ]), '2',
	'poolgov_admin ends the two idle app sessions');
is(alive($t1pid) + alive($t2pid), 0, 'both are gone when it returns');
is(alive($t3pid), '1', 'other role untouched');
is(alive($busy_pid), '1', 'the active session is not ended');
like(client_error($t1), qr/FATAL:  57P01: terminating connection: pg_poolgov ended this session .*\(poolgov.terminate_idle\)/,
	'the client is told it was poolgov.terminate_idle (57P01)');
is($node->safe_psql('postgres', q{SELECT poolgov.terminate_idle(older_than => '100 ms')},
		extra_params => [ '-U', 'padmin' ]), '1',
	'NULL role: every role (the idle other session; superusers only for a superuser caller)');
is($mon->query_safe(q{SELECT idle_terminated FROM poolgov.stats}), '6', 'six ended so far (tiny included)');
$t2->{run}->kill_kill;
$t3->{run}->kill_kill;
$mon->query_safe("SELECT pg_cancel_backend($busy_pid)");
$busy->finish;

# --- Race: a session chosen while idle that becomes active before the
# request reaches it declines, and keeps running. (poolgov.debug_reclaim_delay
# holds terminate_idle between choosing and asking.)
my ($r1, $r1pid) = idle_session('app');
usleep(600_000);
my ($dout, $derr) = ('', '');
my $decider = IPC::Run::start(
	[ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-c',
	  q{SET poolgov.debug_reclaim_delay = '3s'; SELECT 'ended=' || poolgov.terminate_idle('app', '300 ms')} ],
	'<', \undef, '>', \$dout, '2>', \$derr);
ok(wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity
	WHERE query LIKE '%debug_reclaim_delay%' AND wait_event_type = 'Extension'}),
	'terminate_idle chose its victims and waits');
$r1->{stdin} .= "SELECT 'done after ' || pg_sleep(4)::text;\n";
$r1->{run}->pump_nb;
ok(wait_for("SELECT state = 'active' FROM pg_stat_activity WHERE pid = $r1pid"),
	'the chosen session is active now');
$decider->finish;
like($dout, qr/ended=0/, 'terminate_idle returns 0: the chosen session declined');
is(alive($r1pid), '1', 'the session that became active was not ended');
is($node->safe_psql('postgres', q{SELECT count(*) FROM poolgov.events
	WHERE kind = 'terminate_idle' AND pid = } . $r1pid), '0', 'no terminate_idle event for it');
like($r1->query_safe('SELECT 7'), qr/done after .*\n7$/s, 'its query finished and the session works');
$r1->quit;

# --- Pressure. 9 connections: the watcher (superuser), vip (priority), one
# active app session, 3 idle low-priority sessions, 3 idle app sessions.
# The limit is 6: the governor must end 4 (9 - 6 + 1): the 3 low ones,
# then the app session idle longest, and stop there.
$node->safe_psql('postgres', q{SELECT poolgov.set_budget('low', 100, priority => 'low')});
ok(wait_for(q{SELECT count(*) = 1 FROM poolgov.stats WHERE connections = 1}), 'only the watcher left');
$mon->query_safe('SELECT poolgov.reset()');
my ($vip, $vip_pid) = idle_session('vip');
my (@apps, @app_pids, @lows, @low_pids);
for (1 .. 3)
{
	my ($s, $pid) = idle_session('app');
	push @apps, $s;
	push @app_pids, $pid;
}
for (1 .. 3)
{
	my ($s, $pid) = idle_session('low');
	push @lows, $s;
	push @low_pids, $pid;
}
# The first app session is the one idle longest: the others ran something since.
usleep(200_000);
$apps[$_]->query_safe('SELECT 1') for 1 .. 2;
$busy = start_psql($node, 'SELECT pg_sleep(60)', user => 'app');
ok(wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'}),
	'an app session is running pg_sleep');
$busy_pid = $mon->query_safe(q{SELECT pid FROM pg_stat_activity WHERE usename = 'app' AND state = 'active'});
is($mon->query_safe('SELECT connections FROM poolgov.stats'), '9', '9 client connections');
set_conf("poolgov.pressure_idle_timeout = 200ms");
ok(wait_for(q{SELECT connections < 6 FROM poolgov.stats}), 'the governor brought connections under 6');
usleep(1_000_000);    # several more passes: it must have stopped
is($mon->query_safe('SELECT connections FROM poolgov.stats'), '5', 'and stopped there (5 left)');
is(alive($low_pids[0]) + alive($low_pids[1]) + alive($low_pids[2]), 0, 'all low-priority sessions ended');
is(alive($app_pids[0]), '0', 'the app session idle longest ended');
is(alive($app_pids[1]) + alive($app_pids[2]), 2, 'the other app sessions survive');
is(alive($vip_pid), '1', 'the priority session survives');
is(alive($busy_pid), '1', 'the active session survives');
like(client_error($lows[0]), qr/FATAL:  57P05: terminating connection: pg_poolgov ended this session after .* idle to relieve connection pressure.*DETAIL:.*60% of those a normal role may use/s,
	'the client is told it was pool pressure (57P05)');
is($mon->query_safe(q{SELECT string_agg(role || ':' || idle_terminated, ',' ORDER BY role) FROM poolgov.roles WHERE idle_terminated > 0}),
	'app:1,low:3', 'roles.idle_terminated: low 3, app 1');
is($mon->query_safe(q{SELECT count(*) FROM poolgov.events WHERE kind = 'terminate_idle' AND detail LIKE '%(pool pressure)'}),
	'4', 'four pressure events');
# The governor kept sampling while it reclaimed: samples are 100 ms apart;
# allow a generous 1 s (a loaded machine), since this is not a timing test.
my $gap = $mon->query_safe(q{
	SELECT round(max(gap)) FROM (
	  SELECT extract(epoch FROM sampled_at - lag(sampled_at) OVER (ORDER BY sampled_at)) * 1000 AS gap
	    FROM poolgov.history WHERE sampled_at > now() - interval '4 s') g});
note "largest gap between governor samples over the pressure scenario: $gap ms";
cmp_ok($gap, '<', 1000, 'sampling kept its interval while the governor reclaimed');
$mon->query_safe("SELECT pg_cancel_backend($busy_pid)");
$busy->finish;
$_->{run}->kill_kill for @apps, @lows, $vip;
$mon->quit;
done_testing();
