//! Tests of the block detector: each vendor's challenge markup on 200 and 403, and normal
//! pages that must not be taken for walls.

use super::*;
use url::Url;

const DECOY: &str = r#"<script type="application/ld+json">{"@type":"Product","name":"Decoy","offers":{"price":"1.00","priceCurrency":"USD"}}</script>"#;

fn doc(status: u16, body: &str) -> Document {
    let mut d = Document::new(Url::parse("https://shop.example/p/1").unwrap(), body);
    d.status = status;
    d
}

/// Challenge pages as the vendors serve them (trimmed), each with a decoy product.
fn walls() -> Vec<(&'static str, String)> {
    vec![
        (
            "cloudflare",
            format!(
                "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title></head><body><div class=\"main-wrapper\" role=\"main\"><h1 class=\"zone-name-title h1\">shop.example</h1><noscript>Enable JavaScript and cookies to continue</noscript></div><script>(function(){{window._cf_chl_opt={{cvId: '3',cZone: \"shop.example\",cType: 'managed'}};}}());</script>{DECOY}</body></html>"
            ),
        ),
        (
            "perimeterx",
            format!(
                "<html lang=\"en\"><head><title>Access to this page has been denied.</title></head><body><div class=\"px-captcha-container\"><div class=\"px-captcha-header\">Before we continue...</div><div class=\"px-captcha-message\">Press &amp; Hold to confirm you are a human (and not a bot).</div><div id=\"px-captcha\"></div></div><script>window._pxAppId = 'PXabc123';</script>{DECOY}</body></html>"
            ),
        ),
        (
            "datadome",
            format!(
                "<html><head><title>shop.example</title></head><body><script>var dd={{'rt':'c','cid':'AHrlqAAAAAMA','hsh':'A1B2','t':'fe','s':17434,'host':'geo.captcha-delivery.com'}}</script><script src=\"https://ct.captcha-delivery.com/c.js\"></script>{DECOY}</body></html>"
            ),
        ),
        (
            "akamai",
            format!(
                "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n \nYou don't have permission to access \"http&#58;&#47;&#47;shop&#46;example&#47;p&#47;1\" on this server.<P>\nReference&#32;&#35;18&#46;6f2c1602&#46;1700000000&#46;1a2b3c\n<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;18&#46;6f2c1602</P>{DECOY}</BODY>\n</HTML>"
            ),
        ),
        (
            "robot_check",
            format!(
                "<html><head><title dir=\"ltr\">Robot Check</title></head><body><form method=\"get\" action=\"/errors/validateCaptcha\" name=\"\"><h4>Enter the characters you see below</h4><p>Sorry, we just need to make sure you're not a robot.</p></form>{DECOY}</body></html>"
            ),
        ),
        (
            "recaptcha",
            format!(
                "<html><head><title>Security check</title><script src=\"https://www.google.com/recaptcha/api.js\"></script></head><body><h1>Are you a robot?</h1><form action=\"/verify\"><div class=\"g-recaptcha\" data-sitekey=\"6Lc\"></div></form>{DECOY}</body></html>"
            ),
        ),
        (
            "hcaptcha",
            format!(
                "<html><head><title>One more step</title><script src=\"https://hcaptcha.com/1/api.js\" async defer></script></head><body><p>Please complete the security check to access shop.example</p><form><div class=\"h-captcha\" data-sitekey=\"10000000\"></div></form>{DECOY}</body></html>"
            ),
        ),
    ]
}

#[test]
fn every_vendors_wall_is_a_block_on_200_and_403() {
    for (vendor, page) in walls() {
        for status in [200, 403] {
            let block = detect(&doc(status, &page), &[])
                .unwrap_or_else(|| panic!("{vendor} ({status}) not detected"));
            assert_eq!(block.vendor, vendor, "{status}: {block:?}");
        }
    }
}

#[test]
fn headers_and_redirects_to_captcha_paths_are_blocks() {
    let mut d = doc(403, "<html><body>one moment</body></html>");
    d.headers.insert("cf-mitigated".into(), "challenge".into());
    assert_eq!(detect(&d, &[]).unwrap().vendor, "cloudflare");

    let mut d = doc(200, "<html><body><p>Loading</p></body></html>");
    d.url = Url::parse("https://shop.example/captcha?return=/p/1").unwrap();
    let block = detect(&d, &[]).unwrap();
    assert_eq!(
        (block.vendor, block.evidence.as_str()),
        ("captcha_redirect", "/captcha")
    );
    // The same path asked for directly is a page like any other.
    d.requested = d.url.clone();
    assert_eq!(detect(&d, &[]), None);

    let mut d = doc(403, "<h1>Forbidden</h1>");
    d.headers.insert("x-datadome".into(), "protected".into());
    assert_eq!(detect(&d, &[]).unwrap().vendor, "datadome");
}

#[test]
fn normal_pages_are_not_blocks() {
    let product = format!(
        "<html><head><title>Robot Vacuum X200 | Shop</title><script src=\"https://www.google.com/recaptcha/api.js?render=6Lc\"></script></head><body><h1>Robot Vacuum X200</h1><p>The robot vacuum that checks every corner.</p>{DECOY}<footer><form class=\"newsletter\"><div class=\"g-recaptcha\" data-size=\"invisible\"></div></form><small>This site is protected by reCAPTCHA and the Google Privacy Policy applies. Captcha by Google.</small></footer></body></html>"
    );
    assert_eq!(detect(&doc(200, &product), &[]), None);
    let vacuum = "<html><head><title>Robot Check Valve 3/4\"</title></head><body><h1>Robot vacuums: our test</h1><p>Is a robot vacuum worth it? Access denied areas, no-go lines...</p></body></html>";
    assert_eq!(detect(&doc(200, vacuum), &[]), None);
    for forbidden in [
        "<html><head><title>403 Forbidden</title></head><body><center><h1>403 Forbidden</h1></center><hr><center>nginx</center></body></html>",
        "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\"><html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1><p>You don't have permission to access this resource.</p></body></html>",
        "",
    ] {
        assert_eq!(detect(&doc(403, forbidden), &[]), None, "{forbidden}");
    }
    // A marker past the scanned prefix of a big page does not count.
    let big = format!("{}<div id=\"px-captcha\"></div>", "x".repeat(SCANNED_BYTES));
    assert_eq!(detect(&doc(200, &big), &[]), None);
}

#[test]
fn a_sites_own_markers_count_first() {
    const OWN: &[BlockMarker] = &[BlockMarker::body(
        "shop-wall",
        &["<div class=\"queue-it\">"],
        Strength::Sure,
    )];
    let page = "<html><body><div class=\"queue-it\">You are in line</div></body></html>";
    assert_eq!(detect(&doc(200, page), &[]), None);
    let block = detect(&doc(200, page), OWN).unwrap();
    assert_eq!(block.vendor, "shop-wall");
}
