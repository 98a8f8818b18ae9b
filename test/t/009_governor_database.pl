# poolgov.database names a database that does not exist: logins keep
# working (also after a restart without global/pg_internal.init), the
# governor says so in one clear LOG line instead of failing every 5 s, keeps
# sampling, and connects once the database appears. An empty or too long
# value is rejected: ALTER SYSTEM refuses it, and at startup the server
# warns and keeps the default ("postgres").
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('nodb', conf => "poolgov.database = 'nosuchdb'\n");
$node->safe_psql('postgres', 'CREATE ROLE app LOGIN');

sub login_ok
{
	my ($user) = @_;
	my ($rc, $out, $err) = try_login($node, $user);
	note("login as $user: $err") if $rc != 0;
	return $rc == 0 && $out eq '1';
}

sub count_in_log
{
	my ($re, $offset) = @_;
	my $log = substr(slurp_file($node->logfile), $offset // 0);
	my @m = $log =~ /$re/g;
	return scalar @m;
}

my $clear = qr/pg_poolgov governor: database "nosuchdb" named by poolgov\.database does not exist/;

ok(login_ok('postgres'), 'superuser logs in');
ok(login_ok('app'), 'ordinary role logs in');

# A restart without the shared relcache init file: the login path must not
# need an index of pg_database before a database is selected.
$node->stop;
unlink $node->data_dir . '/global/pg_internal.init';
my $log_offset = -s $node->logfile;
$node->start;
for my $i (1 .. 3)
{
	ok(login_ok('app'), "after restart without pg_internal.init: login $i");
}

# The governor keeps sampling without its database.
ok($node->poll_query_until('postgres', 'SELECT count(*) >= 20 FROM poolgov.history'),
	'the governor samples without its database');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'pg_poolgov governor' AND datname IS NULL}),
	'the governor runs connected to no database');
# Long enough for several of the old 5 s restarts.
my $started = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
$node->poll_query_until('postgres',
	"SELECT now() > '$started'::timestamptz + interval '12 s'");
is(count_in_log($clear, $log_offset), 1, 'one clear LOG line since the restart')
  or diag(slurp_file($node->logfile));
cmp_ok(count_in_log(qr/FATAL:  database "nosuchdb" does not exist/, $log_offset),
	'<=', 1, 'not a FATAL every 5 s');
ok(!$node->log_contains('cannot read pg_class without having selected a database'),
	'no login failed for want of a database');

my ($rc, $out, $err) = $node->psql('postgres', q{SELECT poolgov.set_budget('app', 0)});
like($err, qr/pg_poolgov budgets are kept in database "nosuchdb"/,
	'set_budget in another database says where budgets live');

# The database appears: the governor connects to it and reads its budgets.
$node->safe_psql('postgres', 'CREATE DATABASE nosuchdb');
$node->safe_psql('nosuchdb', 'CREATE EXTENSION pg_poolgov');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	 WHERE backend_type = 'pg_poolgov governor' AND datname = 'nosuchdb'}),
	'the governor connects once the database exists');
$node->safe_psql('nosuchdb', q{SELECT poolgov.set_budget('app', 0)});
ok(!login_ok('app'), 'budgets from that database are enforced');

# The database goes away (its table with it): no budget applies once the
# governor finds it missing again.
$node->safe_psql('postgres', 'DROP DATABASE nosuchdb WITH (FORCE)');
my $back = 0;
for my $i (1 .. 150)    # at most about 30 s; the governor needs two 5 s restarts
{
	if (login_ok('app')) { $back = 1; last; }
	select(undef, undef, undef, 0.2);
}
ok($back, 'after DROP DATABASE of poolgov.database no budget applies');
$node->stop;

# Invalid values.
my $bad = PostgreSQL::Test::Cluster->new('baddb');
$bad->init;
$bad->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_poolgov'
poolgov.database = ''
});
$bad->start;
ok($bad->log_contains('invalid value for parameter "poolgov.database": ""'),
	'an empty poolgov.database is rejected at startup');
ok($bad->log_contains('poolgov.database must name the database'),
	'with a detail that says why');
is($bad->safe_psql('postgres', 'SHOW poolgov.database'), 'postgres',
	'and the default is kept');
($rc, $out, $err) = $bad->psql('postgres', q{ALTER SYSTEM SET poolgov.database = ''});
like($err, qr/invalid value for parameter "poolgov.database"/, 'ALTER SYSTEM refuses an empty value');
($rc, $out, $err) =
  $bad->psql('postgres', "ALTER SYSTEM SET poolgov.database = '" . ('x' x 64) . "'");
like($err, qr/invalid value for parameter "poolgov.database".*\n.*DETAIL:.*longer than 63/,
	'and a name longer than a database name can be');
$bad->stop;
done_testing();
