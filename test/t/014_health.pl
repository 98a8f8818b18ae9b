# poolgov.health() follows connections: ok -> warning -> critical as sessions
# open, and back to ok when they close; poolgov.stats.health agrees. Then
# poolgov.recommendations with enough history: max_connections from the
# observed peak, and a role whose peak reached its budget.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PoolgovTest;

# 20 connections: the warning at 20 % is 4 client connections, critical at
# 40 % is 8. The other checks get thresholds nothing here can reach, so the
# worst status (stats.health) is the utilization's.
my $node = poolgov_node('health', max_connections => 20, conf => q{
poolgov.health_utilization_warning = 20
poolgov.health_utilization_critical = 40
poolgov.health_p95_latency_warning = 1h
poolgov.health_p95_latency_critical = 2h
poolgov.health_slow_per_minute_warning = 1000000
poolgov.health_slow_per_minute_critical = 2000000
poolgov.health_error_ratio_warning = 100
poolgov.health_error_ratio_critical = 100
poolgov.recommend_min_history = 1s
});

# (status, value, stats.health, detail) of the utilization check, read by one
# more client connection (the reader counts too).
my $query = q{
	SELECT h.status, h.value, s.health, h.detail
	  FROM poolgov.health() h, poolgov.stats s WHERE h."check" = 'utilization'};

# Waits (bounded by the test timeout) until the check shows $status with
# $value, then checks that stats.health agrees.
sub expect_status
{
	my ($status, $connections, $test) = @_;
	my $value = 100 * $connections / 20;
	my $ok = $node->poll_query_until('postgres', qq{
		SELECT status = '$status' AND value = $value
		  FROM poolgov.health() WHERE "check" = 'utilization'});
	ok($ok, "$test: utilization $status at $value %");
	my ($st, $val, $stats, $detail) = split /\|/, $node->safe_psql('postgres', $query);
	is($st, $status, "$test: status");
	is($stats, $status, "$test: poolgov.stats.health agrees");
	like($detail, qr/^$connections of max_connections = 20 in use/, "$test: detail counts");
	return $detail;
}

my $detail = expect_status('ok', 1, 'quiet server');
unlike($detail, qr/threshold/, 'an ok detail names no threshold');

my @sessions;
push @sessions, session($node) for 1 .. 3;
$detail = expect_status('warning', 4, 'three sessions');
like($detail, qr/at or above the warning threshold of 20 % \(poolgov\.health_utilization_warning\)/,
	'the warning says which threshold and knob');

push @sessions, session($node) for 1 .. 4;
$detail = expect_status('critical', 8, 'seven sessions');
like($detail, qr/critical threshold of 40 % \(poolgov\.health_utilization_critical\).*poolgov\.roles/,
	'critical names its knob and the view to look at');

# Thresholds are reloadable: raising them turns critical into ok.
$node->append_conf('postgresql.conf', "poolgov.health_utilization_warning = 50\n"
	. "poolgov.health_utilization_critical = 90\n");
$node->reload;
ok($node->poll_query_until('postgres', q{
	SELECT status = 'ok' AND warning_at = 50 AND critical_at = 90
	  FROM poolgov.health() WHERE "check" = 'utilization'}),
	'a reload applies new thresholds');
$node->append_conf('postgresql.conf', "poolgov.health_utilization_warning = 20\n"
	. "poolgov.health_utilization_critical = 40\n");
$node->reload;
expect_status('critical', 8, 'thresholds back');

$_->quit for splice(@sessions, 0, 4);
expect_status('warning', 4, 'four sessions closed');
$_->quit for @sessions;
@sessions = ();
expect_status('ok', 1, 'all sessions closed');

# Recommendations with enough history (1 s here): the peak of client
# connections in the history (the 7 sessions, plus the reading connection if
# a sample caught one) plus 25 % headroom plus 3 superuser-reserved slots.
ok($node->poll_query_until('postgres', q{
	SELECT recommended IS NOT NULL FROM poolgov.recommendations
	 WHERE setting = 'max_connections'}), 'max_connections recommended once history exists');
my ($peak, $current, $recommended, $reason) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT max(connections) FROM poolgov.history), current, recommended, reason
	  FROM poolgov.recommendations WHERE setting = 'max_connections'});
# Which samples caught how many sessions depends on timing; the rule must
# use whatever peak the history holds.
ok($peak >= 2 && $peak <= 8, "history saw the sessions (peak $peak)");
my $headroom = int(($peak + 3) / 4);    # ceil(peak * 25 %)
my $want = $peak + $headroom + 3;
is("$current|$recommended", "20|$want", "max_connections: $peak + $headroom + 3");
like($reason,
	qr/^peak of $peak client connections in .* \(\d+ samples\); peak \+ 25 % headroom \($headroom\) \+ superuser_reserved_connections \(3\) = $want$/,
	'the reason quotes its numbers');

# A role whose peak reached its budget.
$node->safe_psql('postgres', q{
	CREATE ROLE regress_app LOGIN;
	SELECT poolgov.set_budget('regress_app', 2)});
push @sessions, session($node, user => 'regress_app') for 1 .. 2;
is($node->safe_psql('postgres', q{
	SELECT current || '|' || recommended || '|' || reason FROM poolgov.recommendations
	 WHERE setting = 'budget of role regress_app'}),
	'2|3|peak of 2 connections is 100 % of its budget of 2 (at or above 90 %): raise it with '
	. 'poolgov.set_budget (peak + 25 % headroom = 3) or find out why it holds so many '
	. '(poolgov.connections)',
	'a role at its budget is named with its peak');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM poolgov.recommendations WHERE setting LIKE 'budget of role %'}),
	1, 'roles far from their budget are not listed');
$_->quit for @sessions;

# The history-based checks see the last minute: 30 statements that are all
# slow (threshold 0 in this session) and 10 that fail.
$node->psql('postgres', "SET poolgov.slow_query_threshold = 0;\n"
	. ("SELECT 1;\n" x 30) . ("SELECT 1/0;\n" x 10), on_error_stop => 0);
ok($node->poll_query_until('postgres', q{
	SELECT bool_and(value > 0) FROM poolgov.health()
	 WHERE "check" IN ('p95_latency', 'error_ratio', 'slow_per_minute')}),
	'latency, errors and slow statements reach health() through the history');
# The first sample with errors may have caught only some of the ten: wait
# for the sample that holds them all (never more than ten).
$node->poll_query_until('postgres', q{
	SELECT detail ~ '^10 of ' FROM poolgov.health() WHERE "check" = 'error_ratio'});
like($node->safe_psql('postgres', q{
	SELECT detail FROM poolgov.health() WHERE "check" = 'error_ratio'}),
	qr/^10 of \d+ statements failed in the last minute/, 'error_ratio counts the failures');
$node->poll_query_until('postgres', q{
	SELECT detail ~ '^(3[0-9]|[4-9][0-9]|[0-9]{3,}) slow' FROM poolgov.health()
	 WHERE "check" = 'slow_per_minute'});
like($node->safe_psql('postgres', q{
	SELECT detail FROM poolgov.health() WHERE "check" = 'slow_per_minute'}),
	qr/^(3\d|[4-9]\d|\d{3,}) slow statements in the last \d+ s/,
	'slow_per_minute counts the slow statements');

$node->stop;
done_testing();
