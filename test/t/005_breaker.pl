# The login circuit breaker: more than poolgov.auth_failure_limit failed
# password logins for a (role, client address) within the window refuse that
# pair for poolgov.auth_lockout, whatever the password; other addresses,
# clients that only hang up (no password) and methods without a guessable
# secret (peer here) are not affected. An administrator clears it with
# poolgov.breaker_reset(); a reload of the limit or the lockout reaches open
# breakers at once; invented role names cannot crowd real roles out of the
# table; failed logins allocate no per-role entry; and the views stay
# readable, and masked, whatever bytes a client sent as its user name.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IO::Socket::INET;
use IPC::Run;
use PoolgovTest;

my $node = poolgov_node('breaker',
	init => { extra => [ '--encoding=UTF8', '--locale=C' ] },
	conf => q{
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
poolgov.auth_failure_limit = 5
poolgov.auth_failure_window = '30s'
poolgov.auth_lockout = '1h'
# The role-table eviction check at the end fills 256 entries (the table's
# size before poolgov.max_roles existed).
poolgov.max_roles = 256
});
$node->safe_psql('postgres', q{
	CREATE ROLE breaker LOGIN PASSWORD 'right';
	CREATE ROLE victim LOGIN PASSWORD 'right';
	CREATE ROLE stranger LOGIN PASSWORD 'right';
	CREATE ROLE peerrole LOGIN;
	CREATE ROLE plain LOGIN;
});
open my $hba, '>', $node->data_dir . '/pg_hba.conf';
print $hba <<'HBA';
local all breaker  scram-sha-256
local all ghost    scram-sha-256
local all peerrole peer
local all all      trust
host  all breaker  127.0.0.1/32 scram-sha-256
host  all victim   127.0.0.1/32 scram-sha-256
host  all stranger 127.0.0.1/32 scram-sha-256
host  all all      127.0.0.1/32 password
HBA
close $hba;
$node->reload;

my $port = $node->port;
my $unix = $node->connstr('postgres') . ' user=breaker';
my $tcp = "host=127.0.0.1 port=$port dbname=postgres";
local $ENV{PGPASSWORD};    # no password from the environment

sub query { return $node->safe_psql('postgres', $_[0]); }
sub stat_of { return query("SELECT $_[0] FROM poolgov.stats"); }
sub as_plain { return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', 'plain' ]); }

# Changes a setting with a reload and waits until new backends see it (the
# postmaster reads the file asynchronously).
sub set_conf
{
	my ($name, $value) = @_;
	query(defined $value
		? "ALTER SYSTEM SET $name = '$value'"
		: "ALTER SYSTEM RESET $name");
	query('SELECT pg_reload_conf()');
	my $want = $value // query("SELECT boot_val FROM pg_settings WHERE name = '$name'");
	ok($node->poll_query_until('postgres',
		"SELECT current_setting('$name') = '$want'"),
		"$name is now $want") if defined $value;
}

sub reload_reset
{
	my ($name, $want) = @_;
	query("ALTER SYSTEM RESET $name");
	query('SELECT pg_reload_conf()');
	ok($node->poll_query_until('postgres', "SELECT current_setting('$name') = '$want'"),
		"$name back to $want");
}

# One login over TCP as $user with a wrong password (pg_hba: "password"),
# spoken in the protocol directly: thousands of them take seconds, not
# minutes of psql start-ups, and the client sees the fields of the server's
# ErrorResponse, the SQLSTATE among them (libpq shows no SQLSTATE for a
# failed connection). Returns (SQLSTATE, message).
sub wrong_password_login
{
	my ($user) = @_;
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)
	  or die "connect: $!";
	my $startup = pack('N', 196608) . "user\0$user\0database\0postgres\0\0";
	print $sock pack('N', 4 + length $startup) . $startup;
	my $request = '';
	read($sock, $request, 9);
	my ($type, undef, $code) = unpack('a N N', $request);
	die "unexpected authentication request" unless $type eq 'R' && $code == 3;
	print $sock 'p' . pack('N', 4 + 2) . "x\0";
	local $/;
	my $answer = <$sock> // '';
	close $sock;
	return ('', $answer) unless length($answer) > 5 && substr($answer, 0, 1) eq 'E';
	my $len = unpack('N', substr($answer, 1, 4));
	my %field = map { (substr($_, 0, 1) => substr($_, 1)) }
	  grep { length } split /\0/, substr($answer, 5, $len - 4);
	return ($field{C} // '', $field{M} // '');
}

# 1 when the server said the password was wrong.
sub password_failure
{
	my (undef, $message) = wrong_password_login($_[0]);
	return $message =~ /password authentication failed/ ? 1 : 0;
}

sub open_breaker_of_breaker
{
	my ($label) = @_;
	for my $i (1 .. 6)
	{
		$node->connect_fails("$unix password=wrong", "$label: wrong password $i",
			expected_stderr => qr/password authentication failed for user "breaker"/);
	}
	$node->connect_fails("$unix password=right", "$label: open, the right password is refused",
		expected_stderr => qr/too many failed login attempts for role "breaker"/);
}

$node->connect_ok("$unix password=right", 'right password works');

# Clients that hang up when asked for a password are not failures.
for (1 .. 8)
{
	$node->connect_fails($unix, 'no password: the client gives up',
		expected_stderr => qr/no password supplied/);
}
is(stat_of('auth_failures'), 0, 'hanging up is not counted');

# Peer failures prove no guessed secret: counted as authentication
# failures, never by the breaker (every unix-socket client shares "local",
# so any local OS user could otherwise lock the role out).
for my $i (1 .. 8)
{
	$node->connect_fails($node->connstr('postgres') . ' user=peerrole', "peer failure $i",
		expected_stderr => qr/Peer authentication failed for user "peerrole"/);
}
is(stat_of('auth_failures'), 8, 'peer failures are authentication failures');
is(query(q{SELECT count(*) FROM poolgov.breakers WHERE role = 'peerrole'}), 0,
	'peer failures take no breaker entry');
is(query(q{SELECT count(*) FROM poolgov.events WHERE role = 'peerrole'}), 0,
	'and open no breaker');

my $before_sixth;
for my $i (1 .. 6)
{
	$before_sixth = query('SELECT clock_timestamp()') if $i == 6;
	$node->connect_fails("$unix password=wrong", "wrong password $i",
		expected_stderr => qr/password authentication failed for user "breaker"/);
}
is(stat_of('auth_failures'), 14, 'six password failures counted');
my $opening = query(q{SELECT opened_at || ' ' || open_until FROM poolgov.breakers});
ok($node->log_contains('pg_poolgov: login breaker opened for role "breaker" from local'),
	'the log says the breaker opened');

# Open: the right password is refused, and so is a wrong one, with the same
# message, so a guess cannot be confirmed during the lockout. The DETAIL
# gives the numbers of the opening.
$node->connect_fails("$unix password=right", 'right password refused while open',
	expected_stderr => qr/FATAL:  too many failed login attempts for role "breaker"/);
$node->connect_fails("$unix password=wrong", 'wrong password gets the same refusal',
	expected_stderr => qr/FATAL:  too many failed login attempts for role "breaker"/);
is(stat_of('rejected_breaker'), 2, 'refusals counted');
ok($node->log_contains(
	'DETAIL:  pg_poolgov refuses logins of this role from local until .*: 6 failed within 30 s, more than the limit of 5\.'),
	'the refusal DETAIL gives failures, window and limit of the opening');
# It opened at the sixth failure (not at the first), for an hour, and the
# refusals since, one with a wrong password, moved neither end.
is(query(qq{SELECT role, client_addr IS NULL, failures, open_until - opened_at,
                   first_failure < '$before_sixth', opened_at > '$before_sixth',
                   opened_at || ' ' || open_until = '$opening'
              FROM poolgov.breakers}),
	'breaker|t|6|01:00:00|t|t|t',
	'poolgov.breakers shows the pair opened at the sixth failure, its lockout unmoved');

# A reader without pg_read_all_stats sees neither the role nor the address
# of other roles' breakers, nor who failed to log in from where.
is(as_plain(q{SELECT count(*) FILTER (WHERE role IS NULL AND client_addr IS NULL), count(*)
               FROM poolgov.breakers}),
	'1|1', 'breakers of other roles are masked');
is(as_plain(q{SELECT count(*) FILTER (WHERE role IS NULL AND database IS NULL
                                        AND client_addr IS NULL
                                        AND detail = '<insufficient privilege>'),
                     count(*)
               FROM poolgov.events WHERE kind IN ('breaker_open', 'reject_breaker')}),
	'3|3', 'failed-login events are masked, detail included');

# An administrator clears it: the door opens at once.
is(query(q{SELECT poolgov.breaker_reset('breaker', 'local')}), 1, 'breaker_reset clears one');
$node->connect_ok("$unix password=right", 'after breaker_reset the right password works');
is(query(q{SELECT role || ': ' || detail FROM poolgov.events WHERE kind = 'breaker_reset'}),
	'breaker: 1 entries cleared (1 open) by postgres', 'the reset is an event');

# Another address is another pair: 3 failures from local and 3 from
# 127.0.0.1 stay under the limit of 5 for each; a breaker open for
# 127.0.0.1 refuses only 127.0.0.1.
$node->connect_ok("$tcp user=breaker password=right", 'the same role from 127.0.0.1 logs in');
for my $i (1 .. 3)
{
	$node->connect_fails("$unix password=wrong", "local failure $i",
		expected_stderr => qr/password authentication failed/);
	$node->connect_fails("$tcp user=breaker password=wrong", "127.0.0.1 failure $i",
		expected_stderr => qr/password authentication failed/);
}
$node->connect_ok("$tcp user=breaker password=right",
	'127.0.0.1 is counted separately (3 failures there, 3 more from local)');
$node->connect_ok("$unix password=right", 'so is local');
for my $i (4 .. 6)
{
	$node->connect_fails("$tcp user=breaker password=wrong", "127.0.0.1 failure $i",
		expected_stderr => qr/password authentication failed/);
}
$node->connect_fails("$tcp user=breaker password=right", '127.0.0.1 is locked out',
	expected_stderr => qr/too many failed login attempts for role "breaker"/);
$node->connect_ok("$unix password=right", 'local still logs in: 127.0.0.1\'s breaker is its own');
is(query(q{SELECT coalesce(host(client_addr), 'local') || ':' || failures || ':' || (opened_at IS NOT NULL)
             FROM poolgov.breakers WHERE role = 'breaker' ORDER BY client_addr NULLS LAST}),
	"127.0.0.1:6:true\nlocal:3:false", 'two pairs: 127.0.0.1 open, local counting');

# A role that does not exist is guarded the same way, without a roles row.
for my $i (1 .. 6)
{
	$node->connect_fails($node->connstr('postgres') . ' user=ghost password=x', "ghost $i",
		expected_stderr => qr/password authentication failed for user "ghost"/);
}
$node->connect_fails($node->connstr('postgres') . ' user=ghost password=x', 'ghost locked out',
	expected_stderr => qr/too many failed login attempts for role "ghost"/);

# A role that exists but never logged in gets no roles row from failures:
# an unauthenticated client allocates nothing.
for my $i (1 .. 2)
{
	$node->connect_fails("$tcp user=stranger password=wrong", "stranger failure $i",
		expected_stderr => qr/password authentication failed for user "stranger"/);
}
my $roles = query(
	q{SELECT role, auth_failures, rejected FROM poolgov.roles
	   WHERE auth_failures > 0 OR role IN ('stranger', 'peerrole') ORDER BY role});
is($roles, 'breaker|16|3', 'per role: failures and refusals of roles with an entry only');

# poolgov.reset() zeroes counters and keeps breakers: the open ones are as
# they were, and 127.0.0.1 is still refused.
my $open_sql = q{SELECT string_agg(format('%s %s %s %s %s', role, client_addr, failures,
                                         opened_at, open_until), ', ' ORDER BY role)
                   FROM poolgov.breakers WHERE opened_at IS NOT NULL};
my $open_before = query($open_sql);
query('SELECT poolgov.reset()');
is(query(q{SELECT auth_failures || '/' || rejected_breaker FROM poolgov.stats}), '0/0',
	'poolgov.reset() zeroes the failure and refusal counters');
is(query($open_sql), $open_before, 'and keeps the open breakers (breaker from 127.0.0.1, ghost)');
$node->connect_fails("$tcp user=breaker password=right", 'after poolgov.reset() 127.0.0.1 is still refused',
	expected_stderr => qr/too many failed login attempts for role "breaker"/);
is(query(q{SELECT poolgov.breaker_reset('breaker', '127.0.0.1')}), 1,
	'breaker_reset clears the pair of one address');
$node->connect_ok("$tcp user=breaker password=right", 'then 127.0.0.1 logs in');
# The counting local pair (it may have expired already): cleared, so that
# the next opening starts from zero.
query(q{SELECT poolgov.breaker_reset('breaker', 'local')});

# poolgov.auth_failure_limit = 0 turns the breaker off: an open breaker
# stops refusing at the reload, and the governor clears the table.
open_breaker_of_breaker('limit 0');
set_conf('poolgov.auth_failure_limit', '0');
$node->connect_ok("$unix password=right", 'auth_failure_limit = 0: the open breaker lets in');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM poolgov.breakers}), 'the breaker view is empty when off');
# The view hides entries at once; the governor clears them at its next
# samples: wait for a few (it samples every 100 ms, slower on a busy machine).
my $samples = query(q{SELECT max(sampled_at) FROM poolgov.history});
ok($node->poll_query_until('postgres',
	qq{SELECT count(*) >= 3 FROM poolgov.history WHERE sampled_at > '$samples'}),
	'the governor sampled since');
reload_reset('poolgov.auth_failure_limit', '5');
is(query(q{SELECT count(*) FROM poolgov.breakers}), 0, 'the table was cleared');

# A shorter lockout reaches an open breaker: open_until moves, and the pair
# is let in when it passes.
open_breaker_of_breaker('shorter lockout');
is(query(q{SELECT open_until - opened_at FROM poolgov.breakers WHERE role = 'breaker'}),
	'01:00:00', 'open for an hour');
set_conf('poolgov.auth_lockout', '2s');
is(query(q{SELECT open_until - opened_at FROM poolgov.breakers WHERE role = 'breaker'}),
	'00:00:02', 'open_until follows the new lockout');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM poolgov.breakers WHERE role = 'breaker'}),
	'the shortened lockout ends');
$node->connect_ok("$unix password=right", 'after the shortened lockout the right password works');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) >= 1 FROM poolgov.events WHERE kind = 'breaker_close' AND role = 'breaker'}),
	'breaker_close event');
reload_reset('poolgov.auth_lockout', '1h');

# A user name that is not valid text in the database encoding (UTF8 here):
# the views stay readable, with '?' for the invalid bytes.
for my $i (1 .. 6)
{
	my ($out, $err) = ('', '');
	local $ENV{PGUSER} = "\xff\xfe";
	local $ENV{PGPASSWORD} = 'x';
	IPC::Run::run([ 'psql', '-X', '-d', $tcp, '-c', 'SELECT 1' ],
		'<', \undef, '>', \$out, '2>', \$err);
	like($err, qr/password authentication failed|too many failed login attempts/,
		"invalid user name $i fails");
}
# A client whose encoding differs from the server's (LATIN1 here) has every
# text converted, which fails on invalid bytes (22021) unless they were
# replaced.
my ($rc, $out, $err) = $node->psql('postgres',
	"SET client_encoding = 'LATIN1'; SELECT * FROM poolgov.events");
is($rc, 0, 'poolgov.events is readable with an invalid user name in it');
is($err, '', 'without an error');
is(query(q{SELECT role, host(client_addr) FROM poolgov.events WHERE kind = 'breaker_open'
            AND role LIKE '?%'}),
	'??|127.0.0.1', 'the invalid bytes read as ?');
($rc, $out, $err) = $node->psql('postgres',
	"SET client_encoding = 'LATIN1'; SELECT * FROM poolgov.breakers");
is($rc, 0, 'poolgov.breakers is readable too');

# Invented role names cannot crowd out real roles: with a limit of 1, 1500
# invented names fail twice each (3000 failures, each opening a breaker);
# then a real role is still locked out after its limit.
set_conf('poolgov.auth_failure_limit', '1');
my $flood_failures = 0;
for my $i (1 .. 1500)
{
	$flood_failures += password_failure("invented$i") for 1 .. 2;
}
is($flood_failures, 3000, '3000 failed logins with invented names');
my ($untracked, $unknown) = split /\|/, query(q{
	SELECT (SELECT breaker_untracked FROM poolgov.stats),
	       (SELECT count(*) FROM poolgov.breakers b
	         WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = b.role))});
# The 256 entries of names without a role fill up (the first invented names
# and the invalid name above, all open), and no more.
is($unknown, 256, 'invented names hold exactly their quota of 256 entries');
cmp_ok($untracked, '>', 2000, 'the rest of their failures are untracked');
# What the client receives: an open breaker refuses with 28000
# (invalid_authorization_specification), a failure that found no entry is
# the plain wrong password, 28P01.
my ($sqlstate, $message) = wrong_password_login('invented1');
is("$sqlstate $message", '28000 too many failed login attempts for role "invented1"',
	'refused by an open breaker: SQLSTATE 28000');
($sqlstate, $message) = wrong_password_login('invented1500');
is("$sqlstate $message", '28P01 password authentication failed for user "invented1500"',
	'an untracked name: the wrong password, SQLSTATE 28P01');
$node->connect_fails("$tcp user=victim password=wrong", 'real role: first failure',
	expected_stderr => qr/password authentication failed for user "victim"/);
$node->connect_fails("$tcp user=victim password=wrong", 'real role: second failure opens',
	expected_stderr => qr/password authentication failed for user "victim"/);
$node->connect_fails("$tcp user=victim password=right",
	'after the flood a real role is still locked after its limit',
	expected_stderr => qr/too many failed login attempts for role "victim"/);
reload_reset('poolgov.auth_failure_limit', '5');

# Evictions of the per-role counter table (poolgov.max_roles = 256) are visible.
query(q{DO $$ BEGIN FOR i IN 1..300 LOOP
	EXECUTE format('CREATE ROLE %I LOGIN', 'many' || i); END LOOP; END $$});
my $script = "$PostgreSQL::Test::Utils::tmp_check/many.sql";
open my $fh, '>', $script;
print $fh "\\c postgres many$_\n" for 1 .. 300;
close $fh;
my ($many_out, $many_err) = ('', '');
IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $script ],
	'<', \undef, '>', \$many_out, '2>', \$many_err);
is($many_err, '', '300 roles logged in');
my ($role_evictions, $db_evictions, $rows) = split /\|/, query(q{
	SELECT role_evictions, database_evictions, (SELECT count(*) FROM poolgov.roles)
	  FROM poolgov.stats});
cmp_ok($role_evictions, '>=', 300 + 2 - 256, 'role evictions are counted');
is($db_evictions, 0, 'no database was evicted');
cmp_ok($rows, '<=', 256, 'the roles table holds 256');

$node->stop;
done_testing();
