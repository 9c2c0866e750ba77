#!/usr/bin/perl
# Real SpamAssassin over every file of a corpus manifest, in one process (the rules are read
# once: about 4 minutes for the 2,467 files here, where `spamassassin -t` per file takes
# about 40): local tests only and no Bayes, what the scorer runs. One line per file:
#
#     FILE <TAB> SCORE <TAB> RULE=SCORE,RULE=SCORE,...
#
# `combination_loso.py --spamassassin-hits` reads it: SpamAssassin's own figures on the
# corpus, and what the rules the scorer cannot run would do to its figures
# (`--simulate`), measured before anyone writes them.
#
#     perl scripts/research/spamassassin_hits.pl [CORPUS] > spamassassin-hits.tsv
#
# CORPUS defaults to $POSTERN_CORPUS or ../shared/corpus; SA_RULES names another rule folder.
use strict;
use warnings;
use Mail::SpamAssassin;

my $corpus = $ARGV[0] // $ENV{POSTERN_CORPUS} // '../shared/corpus';
open(my $manifest, '<', "$corpus/MANIFEST.tsv") or die "spamassassin_hits: no manifest at $corpus/MANIFEST.tsv: $!\n";
my %options = (local_tests_only => 1, post_config_text => "use_bayes 0\n");
$options{rules_filename} = $ENV{SA_RULES} if $ENV{SA_RULES};
my $sa = Mail::SpamAssassin->new(\%options);
$sa->init(1);

my ($done, $failed) = (0, 0);
<$manifest>;    # the header line
while (my $line = <$manifest>) {
    chomp $line;
    my ($file) = split /\t/, $line;
    next unless defined $file && length $file;
    my $text = do {
        open(my $fh, '<:raw', "$corpus/$file") or do { warn "spamassassin_hits: $file: $!\n"; $failed++; next };
        local $/;
        <$fh>;
    };
    my $message = $sa->parse($text);
    my $status = $sa->check($message);
    printf "%s\t%s\t%s\n", $file, $status->get_score(), $status->get_tag('TESTSSCORES', ',');
    $status->finish;
    $message->finish;
    $done++;
    print STDERR "spamassassin_hits: $done files\n" if $done % 500 == 0;
}
print STDERR "spamassassin_hits: $done files scored, $failed unreadable\n";
exit($failed ? 1 : 0);
