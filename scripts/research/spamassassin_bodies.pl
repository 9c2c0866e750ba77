#!/usr/bin/perl
# The text SpamAssassin's body rules read, for every file of a corpus manifest: real
# SpamAssassin's `get_decoded_stripped_body_text_array` (the subject, then each part rendered,
# HTML by HTML.pm, one array element a paragraph or a piece of a long one), one JSON line a
# file:
#
#     {"file": "clean/x.eml", "lines": ["Subject\n", "First paragraph\n", ...]}
#
# To compare the engine's rendering (`scorer/src/spamassassin/views.rs`, the `body` of a
# `MessageView`) with SpamAssassin's, paragraph by paragraph (white space folded, empty ones
# left out): how `html_render.rs` was checked, 2,138 of the 2,467 files the same (893 with
# mail-parser's rendering).
#
#     perl scripts/research/spamassassin_bodies.pl [CORPUS] > spamassassin-bodies.jsonl
#
# CORPUS defaults to $POSTERN_CORPUS or ../shared/corpus. About 20 seconds here.
use strict;
use warnings;
use JSON::PP;
use Mail::SpamAssassin;

my $corpus = $ARGV[0] // $ENV{POSTERN_CORPUS} // '../shared/corpus';
open(my $manifest, '<', "$corpus/MANIFEST.tsv") or die "spamassassin_bodies: no manifest at $corpus/MANIFEST.tsv: $!\n";
my $sa = Mail::SpamAssassin->new({local_tests_only => 1, post_config_text => "use_bayes 0\n"});
$sa->init(1);
my $json = JSON::PP->new->canonical->ascii;

<$manifest>;    # the header line
while (my $line = <$manifest>) {
    chomp $line;
    my ($file) = split /\t/, $line;
    open(my $fh, '<:raw', "$corpus/$file") or do { warn "spamassassin_bodies: $file: $!\n"; next };
    my $raw = do { local $/; <$fh> };
    close $fh;
    my $message = $sa->parse($raw);
    my $status = Mail::SpamAssassin::PerMsgStatus->new($sa, $message);
    my @lines = map { my $text = $_; utf8::decode($text); $text } @{ $status->get_decoded_stripped_body_text_array() };
    print $json->encode({file => $file, lines => \@lines}), "\n";
    $status->finish;
    $message->finish;
}
