# Per-role and per-database counter tables at scale (issue 12): 10,000
# roles in a table sized for them, exact per-role counts for the roles that
# logged in, the views reading 10,000 rows; small tables on purpose to show
# evictions counted and that an entry with a live connection is never
# evicted; more databases than max_databases.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use PoolgovTest;

# One psql process that logs in once per "\c" line (a new backend each):
# far faster than a psql per login. Each login runs SELECT 1.
sub login_script
{
	my (@logins) = @_;    # [db, role] pairs
	return join('', map { "\\c $_->[0] $_->[1]\nSELECT 1;\n" } @logins);
}

sub run_logins
{
	my ($node, @logins) = @_;
	my ($ret, $out, $err) =
	  $node->psql('postgres', login_script(@logins), on_error_stop => 1);
	is($ret, 0, scalar(@logins) . ' logins ran') or diag($err);
}

sub capacity_row
{
	my ($node, $name) = @_;
	return split /\|/, $node->safe_psql('postgres',
		"SELECT used, capacity, evictions, untracked FROM poolgov.capacity WHERE name = '$name'");
}

# --- 10,000 roles in a table sized for them ---------------------------------
my $big = poolgov_node('scale_big', conf => "poolgov.max_roles = 10100\n");
my $t0 = time();
$big->safe_psql('postgres', q{
	DO $$
	BEGIN
	  FOR i IN 1..10000 LOOP
	    EXECUTE format('CREATE ROLE %I LOGIN', 'tenant_' || i);
	  END LOOP;
	END $$;
});
note(sprintf('created 10,000 roles in one transaction in %.1f s', time() - $t0));
is($big->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenant\_%'}),
	'10000', '10,000 roles exist');
my ($used0, $cap) = capacity_row($big, 'roles');
is($cap, '10100', 'poolgov.capacity shows poolgov.max_roles as the role capacity');

# 300 distinct tenants spread over the 10,000 (every 33rd), tenant k logging
# in (k % 3) + 1 times: 600 logins in all.
my @tenants = map { 1 + 33 * $_ } 0 .. 299;
my @logins;
for my $k (@tenants)
{
	push @logins, [ 'postgres', "tenant_$k" ] for 1 .. ($k % 3) + 1;
}
$t0 = time();
run_logins($big, @logins);
my $elapsed = time() - $t0;
note(sprintf('%d logins in %.1f s (%.1f ms each)', scalar(@logins), $elapsed,
		1000 * $elapsed / @logins));

# psql's last connection ends as psql exits, and its backend leaves a moment
# later: wait for pg_stat_activity to show no tenant before counting ours.
ok($big->poll_query_until('postgres', q{
	SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE usename LIKE 'tenant\_%')}),
	'the tenants\' backends have exited');
my $expected = join("\n", map { "tenant_$_|" . (($_ % 3) + 1) . '|0' }
	  sort { "tenant_$a" cmp "tenant_$b" } @tenants);
is($big->safe_psql('postgres', q{
	SELECT role, accepted, connections FROM poolgov.roles
	 WHERE role LIKE 'tenant\_%' ORDER BY role COLLATE "C"}),
	$expected, 'each of the 300 tenants has exactly its own logins counted, none connected now');
my ($used1, undef, $evicted1, $untracked1) = capacity_row($big, 'roles');
is($used1 - $used0, 300, 'one role entry per tenant that logged in');
is($evicted1, '0', 'nothing evicted below capacity');
is($untracked1, '0', 'nothing untracked below capacity');
is($big->safe_psql('postgres', 'SELECT role_evictions FROM poolgov.stats'), '0',
	'poolgov.stats agrees: no role evictions');

# Fill the table to 10,000+ entries with one more login per remaining tenant
# only if that fits the time budget; else the rows come from enough logins
# to show that the view's row count follows the table.
my @rest = grep { ($_ - 1) % 33 != 0 } 1 .. 10000;
my $budget_s = 40;
my $per_login = $elapsed / @logins;
my $n_more = int($budget_s / ($per_login || 0.01));
$n_more = scalar(@rest) if $n_more > @rest;
note("logging in $n_more more tenants (estimated ${\ sprintf('%.0f', $n_more * $per_login)} s)");
run_logins($big, map { [ 'postgres', "tenant_$_" ] } @rest[ 0 .. $n_more - 1 ]);
my ($used2) = capacity_row($big, 'roles');
is($used2 - $used0, 300 + $n_more, 'the role table holds every tenant that logged in');
my $rows = $big->safe_psql('postgres', q{SELECT count(*) FROM poolgov.roles WHERE role LIKE 'tenant\_%'});
is($rows, 300 + $n_more, 'poolgov.roles shows one row per tenant that logged in');
# The view reads the whole table; a generous bound, not a timing test.
$t0 = time();
$big->safe_psql('postgres', 'SELECT count(*) FROM poolgov.roles');
my $view_s = time() - $t0;
note(sprintf('SELECT count(*) FROM poolgov.roles over %d rows: %.0f ms (incl. psql start)',
		$used2, 1000 * $view_s));
cmp_ok($view_s, '<', 10, 'poolgov.roles over the full table returns (bound 10 s)');
$big->stop;

# --- Small tables: evictions counted, live entries kept ----------------------
my $small = poolgov_node('scale_small',
	conf => "poolgov.max_roles = 20\npoolgov.max_databases = 5\n");
# A superuser session held through the role rounds keeps the bootstrap
# superuser's role entry live, so it is never evicted and made again: every
# role that logs in below takes exactly one entry, and the evictions are
# exactly the entries made beyond the 20.
my $keeper = session($small);
$keeper->query_safe('SELECT 1');
$small->safe_psql('postgres', q{
	DO $$
	BEGIN
	  FOR i IN 1..60 LOOP
	    EXECUTE format('CREATE ROLE %I LOGIN', 'r' || i);
	  END LOOP;
	END $$;
});
# Ten roles keep a session open the whole time.
my @held = map { session($small, user => "r$_") } 1 .. 10;
$_->query_safe('SELECT 1') for @held;
# Forty other roles log in once each, round after round of evictions.
run_logins($small, map { [ 'postgres', "r$_" ] } 11 .. 50);
my ($used, $capacity, $evicted, $untracked) = capacity_row($small, 'roles');
is($capacity, '20', 'role capacity is poolgov.max_roles');
is($used, '20', 'the role table is full');
# 51 distinct roles (bootstrap superuser, 10 held, 40 others, each logging
# in once or live throughout) went through 20 entries: 31 evictions.
my $roles_in = 1 + 10 + 40;
is($evicted, $roles_in - 20, "poolgov.capacity: $roles_in roles through 20 entries, 31 evictions");
is($small->safe_psql('postgres', 'SELECT role_evictions FROM poolgov.stats'), $roles_in - 20,
	'poolgov.stats.role_evictions: the same 31');
is($small->safe_psql('postgres', q{
	SELECT string_agg(role || ':' || accepted || ':' || connections, ',' ORDER BY role COLLATE "C")
	  FROM poolgov.roles WHERE role ~ '^r([1-9]|10)$'}),
	join(',', map { "r$_:1:1" } sort { "r$a" cmp "r$b" } 1 .. 10),
	'every role with a live session kept its entry and its count through the evictions');
$keeper->quit;

# A table full of live connections: 20 roles connected; one more role gets
# no entry, and that is counted, not silent; its login still works. The
# reader is a session opened after the table filled (its own login is
# untracked too, before the first reading), so that nothing but r55 logs in
# or out between the two readings.
my @more = map { session($small, user => "r$_") } 11 .. 20;
$_->query_safe('SELECT 1') for @more;
my $reader = session($small);
my $untracked_sql = q{SELECT untracked FROM poolgov.capacity WHERE name = 'roles'};
my $untracked_before = $reader->query_safe($untracked_sql);
my ($rc, $out) = try_login($small, 'r55');
is($rc, 0, 'a login still works when the role table is full of live connections');
# Its login and its exit each found no entry: two more untracked. The exit
# may trail psql's return by a moment.
my $want = $untracked_before + 2;
# Polled from the reader (a new session would log in and out, untracked).
my $seen = $untracked_before;
for (my $until = time() + 30; $seen < $want && time() < $until; usleep(50_000))
{
	$seen = $reader->query_safe($untracked_sql);
}
is($seen, $want, "untracked grew by exactly two ($untracked_before -> $seen)");
is($reader->query_safe(q{SELECT count(*) FROM poolgov.roles WHERE role = 'r55'}), '0',
	'the untracked role has no row');
is($reader->query_safe(q{SELECT count(*) FROM poolgov.roles WHERE role ~ '^r([1-9]|1[0-9]|20)$' AND connections = 1}),
	'20', 'the 20 connected roles all keep their entries');
$reader->quit;
$_->quit for @held, @more;

# --- More databases than max_databases ---------------------------------------
$t0 = time();
$small->safe_psql('postgres', 'CREATE DATABASE d0');
note(sprintf('one CREATE DATABASE: %.2f s', time() - $t0));
my $ndb = 12;
$small->psql('postgres',
	"SELECT format('CREATE DATABASE %I', 'd' || g) FROM generate_series(1, $ndb) g \\gexec",
	on_error_stop => 1);
my (undef, $dcap) = capacity_row($small, 'databases');
is($dcap, '5', 'database capacity is poolgov.max_databases');
# One session held open in d1 for the whole round, and one in postgres (so
# that its entry, too, is made once and never evicted).
my $in_d1 = session($small, db => 'd1', user => 'r60');
$in_d1->query_safe('SELECT 1');
my $in_postgres = session($small);
$in_postgres->query_safe('SELECT 1');
run_logins($small, map { [ "d$_", 'r59' ] } 2 .. $ndb);
my ($dused, undef, $devicted) = capacity_row($small, 'databases');
is($dused, '5', 'the database table is full');
# Every login so far was to postgres (live throughout), then d1 .. d12 once
# each: 13 databases through 5 entries.
my $dbs_in = 1 + $ndb;
is($devicted, $dbs_in - 5, "poolgov.capacity: $dbs_in databases through 5 entries, 8 evictions");
is($small->safe_psql('postgres', 'SELECT database_evictions FROM poolgov.stats'), $dbs_in - 5,
	'poolgov.stats.database_evictions: the same 8');
is($small->safe_psql('postgres',
	"SELECT accepted || ':' || connections FROM poolgov.databases WHERE database = 'd1'"),
	'1:1', 'the database with a live session kept its entry');
# The last database logged into is present with exactly one login.
is($small->safe_psql('postgres',
	"SELECT accepted FROM poolgov.databases WHERE database = 'd$ndb'"),
	'1', 'the newest database is counted exactly');
$in_d1->quit;
$in_postgres->quit;

done_testing();
