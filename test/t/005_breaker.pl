# The login circuit breaker: more than poolgov.auth_failure_limit failed
# password logins for a (role, client address) within the window refuse that
# pair for poolgov.auth_lockout, whatever the password; other addresses and
# clients that only hang up (no password) are not affected.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('breaker', conf => q{
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
poolgov.auth_failure_limit = 5
poolgov.auth_failure_window = '30s'
poolgov.auth_lockout = '3s'
});
$node->safe_psql('postgres', q{CREATE ROLE breaker LOGIN PASSWORD 'right'});
open my $hba, '>', $node->data_dir . '/pg_hba.conf';
print $hba <<'HBA';
local all breaker scram-sha-256
host  all breaker 127.0.0.1/32 scram-sha-256
local all ghost   scram-sha-256
local all all     trust
host  all all     127.0.0.1/32 trust
HBA
close $hba;
$node->reload;

my $port = $node->port;
my $unix = $node->connstr('postgres') . ' user=breaker';
my $tcp = "host=127.0.0.1 port=$port dbname=postgres user=breaker";
local $ENV{PGPASSWORD};    # no password from the environment

sub stat_of
{
	return $node->safe_psql('postgres', "SELECT $_[0] FROM poolgov.stats");
}

$node->connect_ok("$unix password=right", 'right password works');

# Clients that hang up when asked for a password are not failures.
for (1 .. 8)
{
	$node->connect_fails($unix, 'no password: the client gives up',
		expected_stderr => qr/no password supplied/);
}
is(stat_of('auth_failures'), 0, 'hanging up is not counted');

for my $i (1 .. 6)
{
	$node->connect_fails("$unix password=wrong", "wrong password $i",
		expected_stderr => qr/password authentication failed for user "breaker"/);
}
is(stat_of('auth_failures'), 6, 'six failures counted');
ok($node->log_contains('pg_poolgov: login breaker opened for role "breaker" from local'),
	'the log says the breaker opened');

# Open: the right password is refused, and so is a wrong one, with the same
# message, so a guess cannot be confirmed during the lockout.
$node->connect_fails("$unix password=right", 'right password refused while open',
	expected_stderr => qr/FATAL:  too many failed login attempts for role "breaker"/);
$node->connect_fails("$unix password=wrong", 'wrong password gets the same refusal',
	expected_stderr => qr/FATAL:  too many failed login attempts for role "breaker"/);
is(stat_of('rejected_breaker'), 2, 'refusals counted');

# Another address is another pair.
$node->connect_ok("$tcp password=right", 'the same role from 127.0.0.1 logs in');
for my $i (1 .. 3)
{
	$node->connect_fails("$tcp password=wrong", "127.0.0.1 failure $i",
		expected_stderr => qr/password authentication failed/);
}
$node->connect_ok("$tcp password=right", '127.0.0.1 is counted separately (3 failures)');

# A role that does not exist is guarded the same way, without a roles row.
for my $i (1 .. 6)
{
	$node->connect_fails($node->connstr('postgres') . ' user=ghost password=x', "ghost $i",
		expected_stderr => qr/password authentication failed for user "ghost"/);
}
$node->connect_fails($node->connstr('postgres') . ' user=ghost password=x', 'ghost locked out',
	expected_stderr => qr/too many failed login attempts for role "ghost"/);

my $roles = $node->safe_psql('postgres',
	q{SELECT role, auth_failures, rejected FROM poolgov.roles WHERE auth_failures > 0 ORDER BY role});
is($roles, 'breaker|10|2', 'per role: failures and refusals of existing roles only');
is($node->safe_psql('postgres', q{
	SELECT string_agg(kind || ':' || role || ':' || coalesce(host(client_addr), '-'), ' ' ORDER BY at)
	  FROM poolgov.events WHERE kind IN ('breaker_open', 'reject_breaker')}),
	'breaker_open:breaker:- reject_breaker:breaker:- reject_breaker:breaker:- '
	  . 'breaker_open:ghost:- reject_breaker:ghost:-',
	'events: opened, refused');

# After the lockout the pair may log in again, and the governor records the
# close.
sleep 4;
$node->connect_ok("$unix password=right", 'after the lockout the right password works');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM poolgov.events WHERE kind = 'breaker_close'}),
	'breaker_close events for both pairs');

$node->stop;
done_testing();
