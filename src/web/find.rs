//! Finding a person on the page: the beneficiaries list grouped by MPI identity ("Fatou Sow · 3
//! records", with a badge when one of them waits for a review), and the print step of a card that
//! warns before a record pending review is printed. The search itself is the store's
//! (`store::search`), so the JSON API and the page find the same people.
use super::api::WebStatus;
use super::http::Reply;
use super::pages::{render, PAGE_SIZE};
use super::{internal_error, Call, Ctx};
use crate::store::search::{IdentityGroup, SearchQuery};
use crate::store::web_data::BeneficiaryRecord;
use serde::Serialize;

/// The longest query read (longer text is cut).
pub const MAX_QUERY_CHARS: usize = 200;

/// A query taken apart with the box's phone country code (national numbers read as its own).
pub fn query(ctx: &Ctx, text: &str) -> anyhow::Result<SearchQuery> {
    let cc = crate::mapping::phone_country_code(&ctx.store)?;
    Ok(SearchQuery::parse(text, &cc))
}

/// One record of a person, as the list shows it.
#[derive(Serialize)]
struct RecordLine {
    enrollment_uid: String,
    full_name: String,
    details: String,
    pending_review: bool,
}

/// One person of the list.
#[derive(Serialize)]
struct PersonLine {
    mpi_id: Option<String>,
    name: String,
    records: Vec<RecordLine>,
    pending_review: bool,
}

/// What a record's line says under its name: ID, birth date, sex, health centre, phone.
fn details(r: &BeneficiaryRecord) -> String {
    let f = &r.fields;
    [
        f.beneficiary_id.as_deref(),
        f.date_of_birth.as_deref(),
        f.gender.as_deref(),
        f.health_center.as_deref(),
        f.phone_number.as_deref(),
    ]
    .into_iter()
    .flatten()
    .filter(|v| !v.trim().is_empty())
    .collect::<Vec<_>>()
    .join(" · ")
}

fn person(g: IdentityGroup) -> PersonLine {
    let name = g
        .records
        .iter()
        .map(|r| r.full_name.clone())
        .find(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "(no name)".to_string());
    PersonLine {
        mpi_id: g.mpi_id,
        name,
        pending_review: g.pending_review,
        records: g
            .records
            .iter()
            .map(|r| RecordLine {
                enrollment_uid: r.enrollment_uid.clone(),
                full_name: r.full_name.clone(),
                details: details(r),
                pending_review: r.pending_review,
            })
            .collect(),
    }
}

/// `GET /beneficiaries?q=&page=`: the people found, grouped by identity, a page at a time.
pub fn beneficiaries(ctx: &Ctx, call: &mut Call) -> Reply {
    let q: String = call
        .param("q")
        .unwrap_or("")
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect();
    let page_no = call
        .param("page")
        .and_then(|p| p.parse::<u32>().ok())
        .unwrap_or(1);
    let found =
        query(ctx, &q).and_then(|query| ctx.store.search_identities(&query, page_no, PAGE_SIZE));
    let (found, status) = match (found, ctx.store.status_counts()) {
        (Ok(f), Ok(s)) => (f, WebStatus::from(s)),
        (Err(e), _) | (_, Err(e)) => return internal_error("searching beneficiaries", &e),
    };
    let result = minijinja::context! {
        page => found.page, pages => found.pages, total => found.total,
        matched_records => found.matched_records,
        people => found.groups.into_iter().map(person).collect::<Vec<_>>(),
    };
    render(
        ctx,
        200,
        "beneficiaries.html",
        minijinja::context! {
            staff => call.staff, status => status, q => q, result => result,
            sync_started => call.param("sync") == Some("started"), csrf => call.csrf_token(),
        },
    )
}

/// `GET /beneficiaries/{enrollment_uid}/print?template=&confirmed=`: the card alone, ready for the
/// browser's print; for a record pending review, first a page that says so and asks to confirm
/// (the card page's script asks the same in a dialog; this is the way without JavaScript).
pub fn print_card(ctx: &Ctx, call: &mut Call) -> Reply {
    let uid = call
        .path
        .trim_start_matches("/beneficiaries/")
        .trim_end_matches("/print")
        .to_string();
    let record = match super::pages::card_record_or_reply(ctx, call, &uid) {
        Ok(r) => r,
        Err(reply) => return reply,
    };
    let pending = match ctx.store.pending_review_of(&uid) {
        Ok(p) => p,
        Err(e) => return internal_error("reading review items", &e),
    };
    let (template, dpi) = super::pages::chosen_look(call);
    let confirmed = call.param("confirmed") == Some("yes");
    render(
        ctx,
        200,
        "print_confirm.html",
        minijinja::context! {
            staff => call.staff, csrf => call.csrf_token(),
            ask => pending && !confirmed,
            pending => pending,
            template => template, dpi => dpi,
            card => minijinja::context! {
                enrollment_uid => record.record.enrollment_uid,
                full_name => record.record.fields.full_name(),
                mpi_id => record.mpi_id,
            },
        },
    )
}
