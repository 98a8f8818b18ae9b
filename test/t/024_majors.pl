# What differs by PostgreSQL major, checked on whichever major runs the
# test (15 and 18 in scripts/test):
#   - 16+: memberships carry INHERIT / SET / ADMIN options; a budget on a
#     group counts the members that may act as it (INHERIT or SET), not
#     ADMIN-only ones, such as the grant a CREATEROLE role receives on every
#     role it creates (before 16 every membership counts, and a creator is
#     no member);
#   - 16+: CREATE EXTENSION does not adopt a poolgov_admin made beforehand
#     by a CREATEROLE role (which holds ADMIN OPTION on it); before 16 it
#     does (such a role could grant any role to itself anyway);
#   - 16+: PostgreSQL's reserved_connections sits below poolgov's reserve,
#     and members of pg_use_reserved_connections may use both;
#   - 17+: the governor's sleep is a named wait event (PoolgovGovernor);
#     PostgreSQL's transaction_timeout counts a wait in the admission queue
#     and ends the session, which leaves the queue;
#   - 18+: pg_get_loaded_modules() names the library and its version.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

my $node = poolgov_node('majors', max_connections => 8,
	conf => "superuser_reserved_connections = 1\n");
my $major = $node->pg_version->major;
note("PostgreSQL major $major");
my $default_version = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'pg_poolgov'});

# --- Memberships ---------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE ROLE creator LOGIN CREATEROLE;
	CREATE ROLE plain LOGIN;
	CREATE ROLE setonly LOGIN;
	CREATE ROLE inhonly LOGIN;
	CREATE ROLE adminonly LOGIN;
});
$node->safe_psql('postgres', 'CREATE ROLE grp LOGIN', extra_params => [ '-U', 'creator' ]);
$node->safe_psql('postgres', q{
	GRANT grp TO plain;
	SELECT poolgov.set_budget('grp', 1);
});
if ($major >= 16)
{
	$node->safe_psql('postgres', q{
		GRANT grp TO setonly WITH INHERIT FALSE, SET TRUE;
		GRANT grp TO inhonly WITH INHERIT TRUE, SET FALSE;
		GRANT grp TO adminonly WITH ADMIN TRUE, INHERIT FALSE, SET FALSE;
	});
	is($node->safe_psql('postgres', q{
		SELECT admin_option, inherit_option, set_option FROM pg_auth_members
		 WHERE roleid = 'grp'::regrole AND member = 'creator'::regrole}),
		't|f|f', '16+: the creator of grp holds an ADMIN-only membership in it');
}
else
{
	$node->safe_psql('postgres', 'GRANT grp TO setonly, inhonly');
}

# grp's budget (1) is taken by a session of grp itself.
my $grp = session($node, user => 'grp');
$grp->query_safe('SELECT 1');
for my $role (qw(plain setonly inhonly))
{
	my ($rc, undef, $err) = try_login($node, $role);
	isnt($rc, 0, "$role, a member of grp that may act as it, is under grp's full budget");
	like($err, qr/Role "grp" has 1 connections; the group's pg_poolgov budget allows 1/,
		"$role: refused by grp's budget");
}
my ($rc, $out, $err) = try_login($node, 'creator');
is($rc, 0, "grp's creator is not under grp's budget") or diag($err);
if ($major >= 16)
{
	($rc, $out, $err) = try_login($node, 'adminonly');
	is($rc, 0, 'an ADMIN-only member is not under the budget') or diag($err);
}
$grp->quit;
$node->safe_psql('postgres', q{SELECT poolgov.drop_budget('grp')});

# --- poolgov_admin made beforehand by a CREATEROLE role ---------------------
$node->safe_psql('postgres', q{
	DROP EXTENSION pg_poolgov;
	DROP ROLE poolgov_admin;
});
$node->safe_psql('postgres', 'CREATE ROLE poolgov_admin', extra_params => [ '-U', 'creator' ]);
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION pg_poolgov');
if ($major >= 16)
{
	isnt($rc, 0, '16+: a poolgov_admin a CREATEROLE role made is not adopted');
	like($err, qr/A role that is not a superuser holds ADMIN OPTION on it/,
		'16+: because its creator holds ADMIN OPTION on it');
	$node->safe_psql('postgres', q{
		REVOKE poolgov_admin FROM creator;
		CREATE EXTENSION pg_poolgov;
	});
}
else
{
	is($rc, 0, 'before 16: a poolgov_admin a CREATEROLE role made is adopted') or diag($err);
}
ok($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'pg_poolgov'}),
	'the extension is installed again');

# --- The governor's wait event ----------------------------------------------
my $wait = $major >= 17 ? 'PoolgovGovernor' : 'Extension';
ok($node->poll_query_until('postgres', qq{
	SELECT wait_event_type = 'Extension' AND wait_event = '$wait'
	  FROM pg_stat_activity WHERE backend_type = 'pg_poolgov governor'}),
	"the governor sleeps in wait event Extension / $wait");

# --- transaction_timeout (17+) and a queued transaction -----------------------
if ($major >= 17)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE hurried LOGIN;
		ALTER ROLE hurried SET transaction_timeout = '500ms';
		ALTER SYSTEM SET poolgov.max_active_transactions = 1;
		ALTER SYSTEM SET poolgov.admission_timeout = '30s';
		SELECT pg_reload_conf();
	});
	my $holder = session($node, user => 'plain');
	$holder->query_safe('BEGIN; SELECT 1;');
	($rc, $out, $err) = try_login($node, 'hurried');
	isnt($rc, 0, '17+: transaction_timeout ends a transaction waiting for a slot');
	like($err, qr/terminating connection due to transaction timeout/,
		'17+: with PostgreSQL\'s message');
	ok($node->poll_query_until('postgres', q{
		SELECT admission_queued = 0 AND admission_running = 1 FROM poolgov.stats}),
		'17+: it left the queue; the holder still runs');
	$holder->query_safe('COMMIT');
	$holder->quit;
	$node->safe_psql('postgres', q{
		ALTER SYSTEM RESET poolgov.max_active_transactions;
		ALTER SYSTEM RESET poolgov.admission_timeout;
		SELECT pg_reload_conf();
	});
}

# --- The library's name and version -----------------------------------------
if ($major >= 18)
{
	is($node->safe_psql('postgres', q{
		SELECT module_name || ' ' || version FROM pg_get_loaded_modules()
		 WHERE file_name = 'pg_poolgov.so'}),
		"pg_poolgov $default_version",
		"18+: pg_get_loaded_modules() shows pg_poolgov $default_version");
}

# --- Reserves: PostgreSQL's reserved_connections below ours ------------------
if ($major >= 16)
{
	# 8 slots: 1 for superusers, 1 for pg_use_reserved_connections, 1 for
	# poolgov's priority roles; other roles get 5.
	$node->append_conf('postgresql.conf', qq{
reserved_connections = 1
poolgov.reserved_connections = 1
});
	$node->restart;
	$node->safe_psql('postgres', q{
		CREATE ROLE reserved LOGIN IN ROLE pg_use_reserved_connections;
	});
	my @held = map { session($node, user => 'plain') } 1 .. 5;
	$_->query_safe('SELECT 1') for @held;
	($rc, $out, $err) = try_login($node, 'plain');
	isnt($rc, 0, '16+: with 5 slots in use an ordinary role meets poolgov\'s reserve');
	like($err, qr/reserved for pg_poolgov priority roles/, '16+: poolgov refused it');
	($rc, $out, $err) = try_login($node, 'reserved');
	is($rc, 0, '16+: a member of pg_use_reserved_connections passes poolgov\'s reserve')
	  or diag($err);
	$_->quit for @held;
}

$node->stop;
done_testing();
