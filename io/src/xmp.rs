//! The machine-colour declaration every output carries, as XMP (the
//! metadata archive software reads): IPTC Digital Source Type
//! `compositeWithTrainedAlgorithmicMedia`, `xmp:CreatorTool` (version and
//! model) and the date. Written into PNG (iTXt `XML:com.adobe.xmp`), JPEG
//! (APP1) and TIFF (tag 700) by `output::encode`; read back from any file
//! by packet scanning, which XMP's `<?xpacket?>` wrapper exists for.
//!
//! Why that term: a colourized photograph is a composite. Its lightness
//! (all its detail) is the captured photograph's; its colour was made by a
//! trained model. IPTC defines `compositeWithTrainedAlgorithmicMedia` as
//! "the media is a composite of trained algorithmic media with some other
//! media"; `trainedAlgorithmicMedia` would claim that the whole picture was
//! generated, and `algorithmicallyEnhanced` is for edits that leave the
//! content as captured, which invented colours do not.

use std::time::{SystemTime, UNIX_EPOCH};

/// IPTC NewsCodes, Digital Source Type vocabulary.
pub const DIGITAL_SOURCE_TYPE: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia";

/// The start of every provenance note; the XMP `CreatorTool` is the rest
/// ("colorize <version>, model <id>").
pub const NOTE_PREFIX: &str = "colourized by ";

/// The XMP packet for an output made now, described by `note` (the
/// provenance note, see [`NOTE_PREFIX`]).
pub fn packet(note: &str) -> String {
    packet_at(note, now())
}

/// The time outputs are stamped with: now, or `SOURCE_DATE_EPOCH` (seconds
/// since 1970, the reproducible-builds convention) when it is set, so that
/// the same input and settings give the same bytes.
pub fn now() -> SystemTime {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(SystemTime::now, |s| {
            UNIX_EPOCH + std::time::Duration::from_secs(s)
        })
}

pub fn packet_at(note: &str, when: SystemTime) -> String {
    merged_at(note, None, when)
}

/// Our declaration added to the input's XMP packet (`input`), whose other
/// properties are kept: the properties we set are taken out of it (in
/// attribute or element form, whatever their prefix) and our
/// `rdf:Description` goes beside its own. An input packet without an
/// `rdf:RDF` is replaced.
pub fn merged(note: &str, input: Option<&[u8]>) -> String {
    merged_at(note, input, now())
}

const OUR_PROPERTIES: [&str; 4] = [
    "CreatorTool",
    "ModifyDate",
    "MetadataDate",
    "DigitalSourceType",
];

fn merged_at(note: &str, input: Option<&[u8]>, when: SystemTime) -> String {
    let tool = note.strip_prefix(NOTE_PREFIX).unwrap_or(note);
    let date = iso8601_utc(when);
    let ours = format!(
        "  <rdf:Description rdf:about=\"\"\n    \
xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n    \
xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n    \
xmp:CreatorTool=\"{}\"\n    \
xmp:ModifyDate=\"{date}\"\n    \
xmp:MetadataDate=\"{date}\"\n    \
Iptc4xmpExt:DigitalSourceType=\"{DIGITAL_SOURCE_TYPE}\"/>\n",
        escape(tool)
    );
    let theirs = input.map(String::from_utf8_lossy).and_then(|x| {
        let open = x.find("<rdf:RDF")?;
        let body = open + x[open..].find('>')? + 1;
        let close = x.find("</rdf:RDF>")?;
        (body <= close).then(|| (x[open..body].to_string(), x[body..close].to_string()))
    });
    let (rdf_open, mut body) = theirs.unwrap_or_else(|| {
        (
            "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">".to_string(),
            "\n".to_string(),
        )
    });
    for name in OUR_PROPERTIES {
        body = remove_property(&body, name);
    }
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n \
{rdf_open}{body}{ours} </rdf:RDF>\n\
</x:xmpmeta>\n\
<?xpacket end=\"w\"?>"
    )
}

/// `xml` without any property `<prefix>:<name>`: attributes
/// (` p:name="..."`) and elements (`<p:name ...>...</p:name>` or
/// `<p:name .../>`).
fn remove_property(xml: &str, name: &str) -> String {
    let mut out = xml.to_string();
    // Attributes.
    for quote in ['"', '\''] {
        let pat = format!(":{name}={quote}");
        while let Some(i) = out.find(&pat) {
            let start = out[..i].rfind(|c: char| c.is_whitespace()).map_or(i, |w| w);
            let value_start = i + pat.len();
            let Some(len) = out[value_start..].find(quote) else {
                break;
            };
            out.replace_range(start..value_start + len + 1, "");
        }
    }
    // Elements.
    while let Some(i) = find_element_start(&out, name) {
        let prefix_start = out[..i].rfind('<').unwrap_or(i);
        let tag = &out[prefix_start + 1..i + 1 + name.len()];
        let close = format!("</{tag}>");
        let self_closing_end = out[i..].find('>').map(|j| i + j);
        let end = match self_closing_end {
            Some(j) if out[..j].ends_with('/') => j + 1,
            _ => match out[i..].find(&close) {
                Some(j) => i + j + close.len(),
                None => break,
            },
        };
        out.replace_range(prefix_start..end, "");
    }
    out
}

/// Index of the `:` in `<prefix:name` followed by whitespace, `>` or `/`.
fn find_element_start(xml: &str, name: &str) -> Option<usize> {
    let pat = format!(":{name}");
    let mut from = 0;
    while let Some(j) = xml[from..].find(&pat) {
        let i = from + j;
        let after = xml[i + pat.len()..].chars().next();
        let lt = xml[..i].rfind('<');
        let is_tag = lt.is_some_and(|lt| {
            xml[lt + 1..i]
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        });
        if is_tag && matches!(after, Some(c) if c.is_whitespace() || c == '>' || c == '/') {
            return Some(i);
        }
        from = i + pat.len();
    }
    None
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to write most control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// `YYYY-MM-DDThh:mm:ssZ`.
fn iso8601_utc(when: SystemTime) -> String {
    let secs = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's days-to-civil algorithm): for dates written
/// without a time-zone library (XMP here, the box's web page).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// What an output's XMP says about how it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    pub digital_source_type: Option<String>,
    pub creator_tool: Option<String>,
    pub modify_date: Option<String>,
}

/// Finds the first XMP packet in `bytes` (any file format, uncompressed)
/// and reads the declaration's properties from it, written as attributes
/// (as [`packet`] does) or as elements. `None` without a packet.
pub fn read(bytes: &[u8]) -> Option<Declaration> {
    let start = find(bytes, b"<x:xmpmeta")?;
    let end = start + find(&bytes[start..], b"</x:xmpmeta>")?;
    let xml = String::from_utf8_lossy(&bytes[start..end]);
    Some(Declaration {
        digital_source_type: property(&xml, "Iptc4xmpExt:DigitalSourceType"),
        creator_tool: property(&xml, "xmp:CreatorTool"),
        modify_date: property(&xml, "xmp:ModifyDate"),
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn property(xml: &str, name: &str) -> Option<String> {
    if let Some(i) = xml.find(&format!("{name}=\"")) {
        let rest = &xml[i + name.len() + 2..];
        return rest.find('"').map(|j| unescape(&rest[..j]));
    }
    let open = format!("<{name}>");
    let i = xml.find(&open)? + open.len();
    let j = xml[i..].find(&format!("</{name}>"))?;
    Some(unescape(xml[i..i + j].trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_utc_iso8601() {
        let at = |s: u64| iso8601_utc(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(1_796_010_123), "2026-11-30T03:42:03Z");
    }

    #[test]
    fn a_packet_reads_back_with_awkward_model_ids() {
        let note = "colourized by colorize 0.1.0, model a<b>&\"c\"";
        let p = packet_at(note, UNIX_EPOCH + Duration::from_secs(86_400));
        let d = read(p.as_bytes()).unwrap();
        assert_eq!(
            d.creator_tool.as_deref(),
            Some("colorize 0.1.0, model a<b>&\"c\"")
        );
        assert_eq!(d.digital_source_type.as_deref(), Some(DIGITAL_SOURCE_TYPE));
        assert_eq!(d.modify_date.as_deref(), Some("1970-01-02T00:00:00Z"));
        assert_eq!(read(b"no metadata here"), None);
    }

    #[test]
    fn element_form_is_read_too() {
        let xml = "<x:xmpmeta><rdf:Description><xmp:CreatorTool>Photoshop &amp; co</xmp:CreatorTool></rdf:Description></x:xmpmeta>";
        let d = read(xml.as_bytes()).unwrap();
        assert_eq!(d.creator_tool.as_deref(), Some("Photoshop & co"));
        assert_eq!(d.digital_source_type, None);
    }

    #[test]
    fn the_inputs_xmp_is_kept_and_our_properties_replace_its_own() {
        let input = br#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xap="http://ns.adobe.com/xap/1.0/"
  xap:CreatorTool="ScanSoft 2.0" xap:ModifyDate="2001-01-01">
 <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Box 3, print 17</rdf:li></rdf:Alt></dc:title>
 <xap:MetadataDate>2001-01-02</xap:MetadataDate>
</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;
        let note = "colourized by colorize 0.1.0, model m";
        let p = merged_at(note, Some(input), UNIX_EPOCH);
        assert!(p.contains("Box 3, print 17"), "{p}");
        assert!(!p.contains("ScanSoft") && !p.contains("2001-01"), "{p}");
        assert_eq!(p.matches("CreatorTool").count(), 1, "{p}");
        assert_eq!(p.matches("<x:xmpmeta").count(), 1);
        let d = read(p.as_bytes()).unwrap();
        assert_eq!(d.creator_tool.as_deref(), Some("colorize 0.1.0, model m"));
        assert_eq!(d.digital_source_type.as_deref(), Some(DIGITAL_SOURCE_TYPE));
        // Not XMP at all: ours alone.
        let p = merged_at(note, Some(b"garbage"), UNIX_EPOCH);
        assert_eq!(p, packet_at(note, UNIX_EPOCH));
    }
}
