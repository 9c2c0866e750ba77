//! Snowshoe campaigns: the same text sent from many sender domains. A snowshoe sender
//! spreads one mailing over many throwaway domains (four "Select Home Warranty" offers from
//! four unrelated domains, a dozen Italian toner offers from a dozen `.info` domains), so
//! that no domain's reputation suffers; an organisation mails its own text from its own
//! domain, and a reply quotes what it answers.
//!
//! A message's text is fingerprinted as rspamd's fuzzy hashes are (`fuzzy_check`: the
//! shingles of Broder's "On the resemblance and containment of documents"): the set of its
//! word trigrams, and of that set the least value under each of 32 hash functions
//! (min-hashes). Two texts whose trigram sets overlap by a share J have each min-hash equal
//! with probability J; like rspamd's fuzzy storage, a text matches an earlier one when more
//! than half of the 32 are equal (J about 0.5 or more). Those parameters are rspamd's, not
//! chosen on Postern's corpus.
//!
//! [`CampaignMemory`] holds each tenant's recent fingerprints (a window of time and a number
//! of messages), indexed by bands of min-hashes so that a lookup compares a message with
//! the few earlier ones that could match, not with all. Each scorer process keeps one, and
//! [`crate::campaign_feed`] fills it with what every scorer scored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

/// Min-hashes per fingerprint (rspamd's `RSPAMD_SHINGLE_SIZE`).
pub const SHINGLES: usize = 32;
/// Equal min-hashes for two texts to match: more than half (rspamd's fuzzy storage).
pub const MIN_EQUAL: usize = SHINGLES / 2 + 1;
/// Distinct word trigrams a text needs to be fingerprinted: fewer than there are hash
/// functions and the min-hashes repeat a handful of trigrams (a two-line note, a
/// signature), which unrelated short messages share by chance.
pub const MIN_TRIGRAMS: usize = SHINGLES;
/// Words read from a text: a fingerprint of the first 5,000 words is enough to recognise
/// a mailing, and it bounds the cost on a long one.
pub const MAX_WORDS: usize = 5_000;
/// Bands of the index: 16 bands of 2 min-hashes. A text with a share J of trigrams in
/// common with an earlier one shares a band with it with probability 1 - (1 - J^2)^16:
/// 0.99 at J = 0.5, so a match is almost never missed; candidates are then counted exactly.
const BANDS: usize = 16;
const ROWS: usize = SHINGLES / BANDS;
/// The most earlier messages one band value points at (the newest are kept): a common
/// boilerplate (a mailing platform's footer) must not make every lookup slow.
const MAX_BUCKET: usize = 64;

/// The text of a message, fingerprinted, and the sender domain it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub min_hashes: [u32; SHINGLES],
    /// The organizational domain of the From address.
    pub sender_domain: String,
}

/// The fingerprint of `texts` sent from `sender_domain`: None for a text with fewer than
/// [`MIN_TRIGRAMS`] distinct word trigrams. Lines quoted with `>` and a mailing list's
/// footer (after Mailman's rule of underscores) are not the sender's text.
pub fn fingerprint<'t>(texts: impl IntoIterator<Item = &'t str>, sender_domain: &str) -> Option<Fingerprint> {
    // The words, lower case, each followed by one space, in one buffer: a trigram is then
    // the contiguous bytes from its first word to the space after its third.
    let mut buffer = String::new();
    let mut starts: Vec<usize> = Vec::new();
    'texts: for text in texts {
        for line in text.lines() {
            let line = line.trim();
            if line.len() >= 30 && line.bytes().all(|b| b == b'_') {
                continue 'texts;
            }
            if line.starts_with('>') {
                continue;
            }
            for word in line.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                if starts.len() >= MAX_WORDS {
                    break 'texts;
                }
                starts.push(buffer.len());
                if word.is_ascii() {
                    buffer.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
                } else {
                    buffer.push_str(&word.to_lowercase());
                }
                buffer.push(' ');
            }
        }
    }
    starts.push(buffer.len());
    let bytes = buffer.as_bytes();
    let mut trigrams: Vec<u64> = starts.windows(4).map(|w| xxhash_rust::xxh3::xxh3_64(&bytes[w[0]..w[3]])).collect();
    trigrams.sort_unstable();
    trigrams.dedup();
    if trigrams.len() < MIN_TRIGRAMS {
        return None;
    }
    let mut min_hashes = [u32::MAX; SHINGLES];
    for &t in &trigrams {
        for (i, slot) in min_hashes.iter_mut().enumerate() {
            let v = permute(t, i);
            if v < *slot {
                *slot = v;
            }
        }
    }
    Some(Fingerprint { min_hashes, sender_domain: sender_domain.to_owned() })
}

/// The `i`th hash function: SplitMix64's finaliser of the trigram's hash and a constant of
/// its own (a bijection with full avalanche, so each function orders the trigrams anew).
fn permute(trigram: u64, i: usize) -> u32 {
    let mut x = trigram ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (x ^ (x >> 31)) as u32
}

fn band_key(min_hashes: &[u32; SHINGLES], band: usize) -> u64 {
    let rows = &min_hashes[band * ROWS..(band + 1) * ROWS];
    rows.iter().fold(band as u64, |acc, &v| (acc.rotate_left(32) ^ u64::from(v)).wrapping_mul(0x100_0000_01B3))
}

/// A time as the memory counts it: milliseconds since the Unix epoch, signed (a stored
/// file's Date header may lie before it).
pub fn at_ms(time: proto::Timestamp) -> i64 {
    i64::try_from(time.millis()).unwrap_or(i64::MAX)
}

/// Earlier messages of the same text from other sender domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignMatch {
    /// The other sender domains, sorted (at most [`MAX_REPORTED`], the first seen).
    pub other_domains: Vec<String>,
    /// The earlier messages from other domains that matched, copies included (a text's
    /// copies are counted from the time its span was last cut to its latest copy: about
    /// those within the window).
    pub earlier_messages: usize,
    /// The most min-hashes one of them had in common with this message.
    pub best_equal: usize,
}

pub const MAX_REPORTED: usize = 5;

/// One text from one sender domain: its copies (a journal rule sends one a recipient, a
/// sender mails it again) are one entry, so that a newsletter to every employee fills
/// neither the memory nor the band buckets that other texts share with it.
#[derive(Debug)]
struct Entry {
    seq: u64,
    /// The earliest and the latest copy remembered; consecutive copies are never more than
    /// the window apart, so a time within the window of this span is within the window of
    /// some copy.
    first_ms: i64,
    last_ms: i64,
    copies: usize,
    fingerprint: Fingerprint,
}

impl Entry {
    /// How far `at_ms` is from the nearest copy's time (0 inside the span).
    fn distance_ms(&self, at_ms: i64) -> i64 {
        if at_ms < self.first_ms {
            self.first_ms.saturating_sub(at_ms)
        } else {
            at_ms.saturating_sub(self.last_ms).max(0)
        }
    }
}

#[derive(Debug, Default)]
struct TenantMemory {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// (band, band value) -> the sequence numbers of the entries with it, oldest first.
    bands: HashMap<u64, Vec<u64>>,
}

impl TenantMemory {
    fn entry(&self, seq: u64) -> Option<&Entry> {
        let first = self.entries.front()?.seq;
        self.entries.get(usize::try_from(seq.checked_sub(first)?).ok()?)
    }

    /// Forgets the oldest entry and returns it; None when there was none.
    fn forget_oldest(&mut self) -> Option<Entry> {
        let old = self.entries.pop_front()?;
        for band in 0..BANDS {
            let key = band_key(&old.fingerprint.min_hashes, band);
            if let Some(bucket) = self.bands.get_mut(&key) {
                bucket.retain(|&s| s != old.seq);
                if bucket.is_empty() {
                    self.bands.remove(&key);
                }
            }
        }
        Some(old)
    }

    /// Appends an entry under a new sequence number, indexed by its bands.
    fn remember(&mut self, mut entry: Entry) {
        entry.seq = self.next_seq;
        self.next_seq += 1;
        for band in 0..BANDS {
            let bucket = self.bands.entry(band_key(&entry.fingerprint.min_hashes, band)).or_default();
            if bucket.len() >= MAX_BUCKET {
                bucket.remove(0);
            }
            bucket.push(entry.seq);
        }
        self.entries.push_back(entry);
    }

    /// The entry of the same text from the same domain within `window_ms` of `at_ms`: every
    /// min-hash equal, hence every band, so the first band's bucket holds it.
    fn same_text_mut(&mut self, fingerprint: &Fingerprint, at_ms: i64, window_ms: i64) -> Option<&mut Entry> {
        let bucket = self.bands.get(&band_key(&fingerprint.min_hashes, 0))?;
        let first = self.entries.front()?.seq;
        let index = bucket.iter().rev().find_map(|&seq| {
            let index = usize::try_from(seq.checked_sub(first)?).ok()?;
            let entry = self.entries.get(index)?;
            (entry.fingerprint == *fingerprint && entry.distance_ms(at_ms) <= window_ms).then_some(index)
        })?;
        self.entries.get_mut(index)
    }
}

/// Each tenant's recent fingerprints: the last `window_ms` of mail, at most
/// `max_messages` a tenant (the oldest forgotten first).
#[derive(Debug)]
pub struct CampaignMemory {
    window_ms: i64,
    max_messages: usize,
    tenants: HashMap<String, TenantMemory>,
    /// Entries held, over every tenant.
    held: usize,
    /// Forget fingerprints older than the window as newer ones come (mail arrives in order
    /// of time; stored files do not).
    forget_by_age: bool,
    /// The ids of the last [`MAX_OBSERVED_HERE`] messages this scorer remembered as it
    /// scored them ([`CampaignMemory::observe_here`]); `observed_order` holds them oldest
    /// first.
    observed_here: HashSet<Arc<str>>,
    observed_order: VecDeque<Arc<str>>,
}

/// The most message ids a memory keeps to know its own fingerprints when the stream brings
/// them back (within milliseconds) and a message scored again (a redelivery): one scored
/// longer ago than the last 10,000 would count twice.
pub const MAX_OBSERVED_HERE: usize = 10_000;

impl CampaignMemory {
    pub fn new(window: std::time::Duration, max_messages: usize) -> Self {
        CampaignMemory {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            max_messages: max_messages.max(1),
            tenants: HashMap::new(),
            held: 0,
            forget_by_age: true,
            observed_here: HashSet::new(),
            observed_order: VecDeque::new(),
        }
    }

    /// A memory for stored files read in no order of time (an evaluation): it forgets
    /// nothing, and a match still needs the two within the window of each other.
    pub fn for_stored_files(window: std::time::Duration) -> Self {
        CampaignMemory { forget_by_age: false, ..CampaignMemory::new(window, usize::MAX) }
    }

    /// The earlier messages of `tenant` within the window whose text matches `fingerprint`
    /// and whose sender domain is another; None when there is none.
    pub fn matches(&self, tenant: &str, fingerprint: &Fingerprint, now_ms: i64) -> Option<CampaignMatch> {
        let memory = self.tenants.get(tenant)?;
        // Every earlier message that shares a band with this one, once (a copy of the same
        // text shares all 16), oldest first.
        let mut candidates: Vec<u64> = (0..BANDS)
            .filter_map(|band| memory.bands.get(&band_key(&fingerprint.min_hashes, band)))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let mut found = CampaignMatch { other_domains: Vec::new(), earlier_messages: 0, best_equal: 0 };
        for seq in candidates {
            let Some(entry) = memory.entry(seq) else { continue };
            // Either way round: scorers' clocks differ a little, and an evaluation reads
            // stored files in no particular order of time.
            if entry.fingerprint.sender_domain == fingerprint.sender_domain
                || entry.distance_ms(now_ms) > self.window_ms
            {
                continue;
            }
            let equal =
                entry.fingerprint.min_hashes.iter().zip(&fingerprint.min_hashes).filter(|(a, b)| a == b).count();
            if equal < MIN_EQUAL {
                continue;
            }
            found.earlier_messages += entry.copies;
            found.best_equal = found.best_equal.max(equal);
            if found.other_domains.len() < MAX_REPORTED
                && !found.other_domains.contains(&entry.fingerprint.sender_domain)
            {
                found.other_domains.push(entry.fingerprint.sender_domain.clone());
            }
        }
        (found.earlier_messages > 0).then(|| {
            found.other_domains.sort();
            found
        })
    }

    /// Remembers a scored message's fingerprint.
    pub fn observe(&mut self, tenant: &str, fingerprint: Fingerprint, at_ms: i64) {
        let window_ms = self.window_ms;
        let memory = self.tenants.entry(tenant.to_owned()).or_default();
        if self.forget_by_age {
            // The oldest entries first: one whose latest copy is past the window is
            // forgotten; one with a copy still inside it moves to the back, its span (and
            // count) cut to that copy (mail arrives in order of time: no later message needs
            // the older part).
            let mut moved = 0;
            while moved < memory.entries.len()
                && memory.entries.front().is_some_and(|e| at_ms.saturating_sub(e.first_ms) > window_ms)
            {
                let Some(mut old) = memory.forget_oldest() else { break };
                if at_ms.saturating_sub(old.last_ms) > window_ms {
                    self.held -= 1;
                } else {
                    old.first_ms = old.last_ms;
                    old.copies = 1;
                    memory.remember(old);
                    moved += 1;
                }
            }
        }
        if let Some(entry) = memory.same_text_mut(&fingerprint, at_ms, window_ms) {
            entry.first_ms = entry.first_ms.min(at_ms);
            entry.last_ms = entry.last_ms.max(at_ms);
            entry.copies += 1;
            return;
        }
        while memory.entries.len() >= self.max_messages {
            if memory.forget_oldest().is_some() {
                self.held -= 1;
            }
        }
        memory.remember(Entry { seq: 0, first_ms: at_ms, last_ms: at_ms, copies: 1, fingerprint });
        self.held += 1;
    }

    /// Remembers the fingerprint of a message as it is scored, under the id its fingerprint
    /// is published with: the copies scored next, here, find it at once, not only once the
    /// stream brings it back ([`CampaignMemory::observe_published`] then skips it). The same
    /// id again (a redelivered message scored a second time) is not counted again.
    pub fn observe_here(&mut self, tenant: &str, fingerprint: Fingerprint, at_ms: i64, id: &str) {
        if self.observed_here.contains(id) {
            return;
        }
        while self.observed_order.len() >= MAX_OBSERVED_HERE {
            if let Some(oldest) = self.observed_order.pop_front() {
                self.observed_here.remove(&oldest);
            }
        }
        let id: Arc<str> = Arc::from(id);
        self.observed_here.insert(id.clone());
        self.observed_order.push_back(id);
        self.observe(tenant, fingerprint, at_ms);
    }

    /// Remembers a fingerprint the stream brought, unless this scorer remembered it as it
    /// scored the message (`id`: the fingerprint's Nats-Msg-Id).
    pub fn observe_published(&mut self, tenant: &str, fingerprint: Fingerprint, at_ms: i64, id: Option<&str>) {
        if id.is_some_and(|id| self.observed_here.contains(id)) {
            return;
        }
        self.observe(tenant, fingerprint, at_ms);
    }

    /// Entries held over every tenant (a text from a domain once, however many copies).
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A scorer's memory, shared by the messages it scores at once, and the tenant a message
/// belongs to: what [`crate::analysis::MessageFacts`] carries.
#[derive(Clone)]
pub struct CampaignScope {
    pub tenant: Arc<str>,
    pub memory: Arc<RwLock<CampaignMemory>>,
    /// When the message arrived, where that is not when it is scored (an evaluation reads
    /// a stored file's Date header); None: now.
    pub arrived_ms: Option<i64>,
    /// The id the message's fingerprint will be published under: the check then remembers
    /// it in the same write as it looks ([`CampaignScope::check`]), so that of two copies
    /// scored at once the second finds the first. None: whoever scores remembers it after
    /// (an evaluation).
    pub published_as: Option<Arc<str>>,
}

impl std::fmt::Debug for CampaignScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CampaignScope").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl CampaignScope {
    /// The earlier messages `fingerprint` matches; with [`CampaignScope::published_as`],
    /// the message is remembered under that id in the same write.
    pub fn check(&self, fingerprint: &Fingerprint, now_ms: i64) -> Option<CampaignMatch> {
        let Some(id) = &self.published_as else {
            return self.memory.read().unwrap_or_else(std::sync::PoisonError::into_inner).matches(
                &self.tenant,
                fingerprint,
                now_ms,
            );
        };
        let mut memory = self.memory.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = memory.matches(&self.tenant, fingerprint, now_ms);
        memory.observe_here(&self.tenant, fingerprint.clone(), now_ms, id);
        found
    }

    pub fn observe(&self, fingerprint: Fingerprint, at_ms: i64) {
        self.memory.write().unwrap_or_else(std::sync::PoisonError::into_inner).observe(
            &self.tenant,
            fingerprint,
            at_ms,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "Protect the home before the next repair bill shows up. One major breakdown can cost \
hundreds or more. A comprehensive home warranty plan helps cover many of the systems and appliances your home \
depends on every day. Major systems and appliances, fewer surprise expenses, straightforward protection and a \
fast quote process. Get my free quote and review plan options in just a few steps.";

    const MINUTES: &str = "The board met on Tuesday and agreed the budget for the coming year. The treasurer \
reported that the accounts are in order and the auditors raised no questions. The next meeting will discuss \
the new office lease and the hiring plan for the support team, and the minutes will follow next week.";

    fn fp(text: &str, domain: &str) -> Fingerprint {
        fingerprint([text], domain).expect("long enough")
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_same_text_from_another_domain_matches_and_from_the_same_does_not() {
        let mut memory = CampaignMemory::new(std::time::Duration::from_secs(7 * 86_400), 1000);
        memory.observe("t", fp(OFFER, "tabletlist.example"), 0);
        assert_eq!(memory.matches("t", &fp(OFFER, "tabletlist.example"), 1), None, "the same sender");
        let other = memory.matches("t", &fp(OFFER, "weddingflare.example"), 1).expect("another domain");
        assert_eq!(other.other_domains, vec!["tabletlist.example".to_owned()]);
        assert_eq!(other.best_equal, SHINGLES);
        // Another tenant's mail is not this tenant's.
        assert_eq!(memory.matches("u", &fp(OFFER, "weddingflare.example"), 1), None);
        // Reworded a little (a greeting and a sentence changed), it still matches.
        let reworded = OFFER
            .replace("Protect the home", "Hello friend, protect your house")
            .replace("Get my free quote", "Ask for your quote today");
        assert!(memory.matches("t", &fp(&reworded, "toolsvalue.example"), 1).is_some());
        // Past the window it is forgotten.
        assert_eq!(memory.matches("t", &fp(OFFER, "weddingflare.example"), 8 * DAY), None);
    }

    #[test]
    fn different_texts_do_not_match() {
        let mut memory = CampaignMemory::new(std::time::Duration::from_secs(7 * 86_400), 1000);
        memory.observe("t", fp(OFFER, "a.example"), 0);
        assert_eq!(memory.matches("t", &fp(MINUTES, "b.example"), 1), None);
    }

    #[test]
    fn short_texts_quotes_and_list_footers_are_not_the_senders_text() {
        assert_eq!(fingerprint(["Thanks, see you on Monday."], "a.example"), None);
        let quoted: String = OFFER.split(". ").map(|s| format!("> {s}.\n")).collect();
        assert_eq!(fingerprint([format!("Agreed.\n{quoted}").as_str()], "a.example"), None);
        let with_footer =
            format!("Short note.\n_______________________________________________\nOsst-users mailing list\n{OFFER}");
        assert_eq!(fingerprint([with_footer.as_str()], "a.example"), None);
    }

    #[test]
    fn a_trigram_is_the_hash_of_its_three_words_each_with_a_space() {
        // The same values as hashing "w1 w2 w3 " word by word (the form the fingerprints of
        // the first build had), so a memory of either reads the other.
        let mut streaming = xxhash_rust::xxh3::Xxh3::new();
        for word in ["protect", "the", "home"] {
            streaming.update(word.as_bytes());
            streaming.update(b" ");
        }
        let one = streaming.digest();
        let words: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
        let text = format!("Protect the HOME {}", words.join(" "));
        let fp = fingerprint([text.as_str()], "a.example").unwrap();
        let mut expected = [u32::MAX; SHINGLES];
        let all: Vec<&str> = text.split(' ').collect();
        for w in all.windows(3) {
            let t = xxhash_rust::xxh3::xxh3_64(format!("{} {} {} ", w[0], w[1], w[2]).to_lowercase().as_bytes());
            for (i, slot) in expected.iter_mut().enumerate() {
                *slot = (*slot).min(permute(t, i));
            }
        }
        assert_eq!(xxhash_rust::xxh3::xxh3_64(b"protect the home "), one);
        assert_eq!(fp.min_hashes, expected);
    }

    #[test]
    fn stored_files_match_within_the_window_in_any_order() {
        let mut memory = CampaignMemory::for_stored_files(std::time::Duration::from_secs(7 * 86_400));
        memory.observe("t", fp(OFFER, "a.example"), 20 * DAY);
        memory.observe("t", fp(MINUTES, "b.example"), 0);
        // Read after a file 20 days older, the first is still there, and matches a copy
        // dated a day before it, not one dated 10 days before it.
        assert!(memory.matches("t", &fp(OFFER, "c.example"), 19 * DAY).is_some());
        assert!(memory.matches("t", &fp(OFFER, "c.example"), 10 * DAY).is_none());
    }

    #[test]
    fn copies_of_one_text_from_one_domain_are_one_entry() {
        let mut memory = CampaignMemory::new(std::time::Duration::from_secs(7 * 86_400), 1000);
        for day in 0..10 {
            memory.observe("t", fp(OFFER, "a.example"), day * DAY);
        }
        memory.observe("t", fp(MINUTES, "b.example"), 10 * DAY);
        assert_eq!(memory.len(), 2, "ten copies of the offer held once");
        // The first copy is past the window, the last ones are not: still a match, counting
        // the copies within reach.
        let found = memory.matches("t", &fp(OFFER, "c.example"), 12 * DAY).expect("a later copy is in the window");
        assert_eq!(found.other_domains, vec!["a.example".to_owned()]);
        // Days 7, 8 and 9: the span was cut to day 7 when day 8 came (day 0 out of reach).
        assert_eq!(found.earlier_messages, 3);
        // Another domain's copy is an entry of its own.
        memory.observe("t", fp(OFFER, "c.example"), 12 * DAY);
        assert_eq!(memory.len(), 3);
        // A week after the last copy, the text is forgotten.
        memory.observe("t", fp(MINUTES, "b.example"), 17 * DAY);
        assert_eq!(
            memory.matches("t", &fp(OFFER, "d.example"), 17 * DAY).map(|m| m.other_domains),
            Some(vec!["c.example".to_owned()])
        );
        memory.observe("t", fp(MINUTES, "b.example"), 20 * DAY);
        assert_eq!(memory.len(), 1, "only the minutes' latest copies remain");
        assert_eq!(memory.matches("t", &fp(OFFER, "d.example"), 20 * DAY), None);
    }

    #[test]
    fn stored_copies_merge_only_within_the_window() {
        let mut memory = CampaignMemory::for_stored_files(std::time::Duration::from_secs(7 * 86_400));
        memory.observe("t", fp(OFFER, "a.example"), 0);
        memory.observe("t", fp(OFFER, "a.example"), 30 * DAY);
        memory.observe("t", fp(OFFER, "a.example"), 3 * DAY);
        assert_eq!(memory.len(), 2, "the copy of day 30 is not a copy of the span 0..3");
        let found = memory.matches("t", &fp(OFFER, "b.example"), 2 * DAY).expect("match");
        assert_eq!(found.earlier_messages, 2, "the two copies of days 0 and 3");
        assert!(memory.matches("t", &fp(OFFER, "b.example"), 20 * DAY).is_none(), "between the two entries");
    }

    #[test]
    fn a_message_remembered_as_it_is_scored_is_not_counted_again_when_the_stream_brings_it() {
        let memory = Arc::new(RwLock::new(CampaignMemory::new(std::time::Duration::from_secs(86_400), 100)));
        let scope = |id: &str| CampaignScope {
            tenant: "t".into(),
            memory: memory.clone(),
            arrived_ms: None,
            published_as: Some(Arc::from(id)),
        };
        // Two copies scored at once by one scorer: the second finds the first, whose
        // fingerprint has not come back from the stream.
        assert_eq!(scope("fingerprint-1").check(&fp(OFFER, "tabletlist.example"), 1_000), None);
        let found = scope("fingerprint-2").check(&fp(OFFER, "weddingflare.example"), 1_001).expect("found at once");
        assert_eq!((found.other_domains.clone(), found.earlier_messages), (vec!["tabletlist.example".to_owned()], 1));
        // The stream brings both back: not counted again; another scorer's is.
        let back = |id: Option<&str>, domain: &str| {
            memory.write().unwrap().observe_published("t", fp(OFFER, domain), 1_003, id);
        };
        back(Some("fingerprint-1"), "tabletlist.example");
        back(Some("fingerprint-2"), "weddingflare.example");
        let probe = |domain: &str| memory.read().unwrap().matches("t", &fp(OFFER, domain), 1_004).unwrap();
        assert_eq!(probe("third.example").earlier_messages, 2, "one copy from each domain");
        back(Some("fingerprint-elsewhere"), "tabletlist.example");
        back(None, "tabletlist.example");
        assert_eq!(probe("third.example").earlier_messages, 4, "other scorers' copies count");
        // Scored again (a redelivery, after its fingerprint came back), the same id is not
        // a second copy.
        scope("fingerprint-1").check(&fp(OFFER, "tabletlist.example"), 1_004);
        assert_eq!(probe("third.example").earlier_messages, 4);
        // Without an id (an evaluation) the check only looks.
        let looking = CampaignScope { published_as: None, ..scope("unused") };
        looking.check(&fp(MINUTES, "board.example"), 1_005);
        assert!(probe("third.example").earlier_messages == 4 && memory.read().unwrap().len() == 2);
    }

    #[test]
    fn memory_is_bounded_by_count() {
        let mut memory = CampaignMemory::new(std::time::Duration::from_secs(7 * 86_400), 2);
        memory.observe("t", fp(OFFER, "a.example"), 0);
        let other = MINUTES;
        memory.observe("t", fp(other, "b.example"), 1);
        memory.observe("t", fp(other, "c.example"), 2);
        assert_eq!(memory.len(), 2);
        assert_eq!(memory.matches("t", &fp(OFFER, "d.example"), 3), None, "the first was forgotten");
        let found = memory.matches("t", &fp(other, "d.example"), 3).expect("the two kept");
        assert_eq!(found.other_domains, vec!["b.example".to_owned(), "c.example".to_owned()]);
        assert_eq!(found.earlier_messages, 2);
    }
}
