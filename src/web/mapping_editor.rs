//! The attribute mapping editor (admin; part s10-m): the program's tracked-entity attributes from
//! the store's synced metadata (code, display name, value type, options), the sensitive ones
//! marked and never offered a card field, a card field and a value map for each of the others.
//! Saving goes through `jobs::map_program` -> `mapping::set_mapping`, exactly as `kadi map set`
//! does: the same checks (a sensitive attribute is refused there too, whatever the form says),
//! the same audit line, the same re-derivation of existing cards.
use super::front::Method;
use super::http::{self, Reply};
use super::pages::render;
use super::{admin_page, internal_error, Call, Ctx};
use crate::actor::Actor;
use crate::mapping::attributes::{attribute_lines, body_from_lines, zone_level};
use crate::mapping::MPI_ONLY_FIELDS;
use crate::record::CARD_FIELDS;

/// The largest editor form accepted (a few dozen attributes).
const MAX_FORM: usize = 64 * 1024;

/// The routes of the editor; `None` for a path that is not theirs.
pub fn route(ctx: &Ctx, call: &mut Call, method: &Method) -> Option<Reply> {
    if call.path != "/admin/mapping" {
        return None;
    }
    Some(match method {
        Method::Get => admin_page(ctx, call, editor),
        Method::Post => admin_page(ctx, call, save),
        _ => Reply::text(405, "method not allowed"),
    })
}

/// The program the editor works on: the one asked for, else the first the store has metadata of.
fn program_of(ctx: &Ctx, asked: Option<&str>) -> anyhow::Result<(Vec<(String, String)>, String)> {
    let programs: Vec<(String, String)> = ctx
        .store
        .card_programs()?
        .into_iter()
        .filter_map(|(uid, name)| Some((uid, name?)))
        .collect();
    let chosen = asked
        .filter(|a| programs.iter().any(|(uid, _)| uid == a))
        .map(str::to_string)
        .or_else(|| programs.first().map(|(uid, _)| uid.clone()))
        .unwrap_or_default();
    Ok((programs, chosen))
}

fn editor_page(
    ctx: &Ctx,
    call: &Call,
    status: u16,
    program: Option<&str>,
    message: Option<(&str, String)>,
) -> Reply {
    let (programs, chosen) = match program_of(ctx, program) {
        Ok(p) => p,
        Err(e) => return internal_error("reading programs", &e),
    };
    let lines = match attribute_lines(&ctx.store, &chosen) {
        Ok(l) => l,
        Err(e) => return internal_error("reading the program's attributes", &e),
    };
    let fields: Vec<&str> = CARD_FIELDS.iter().copied().chain(MPI_ONLY_FIELDS).collect();
    let (kind, text) = match &message {
        Some((k, t)) => (Some(*k), Some(t.as_str())),
        None => (None, None),
    };
    render(
        ctx,
        status,
        "mapping.html",
        minijinja::context! {
            staff => call.staff, csrf => call.csrf_token(), programs => programs,
            program => chosen, lines => lines, fields => fields,
            message_kind => kind, message => text,
        },
    )
}

/// `GET /admin/mapping?program=UID`.
fn editor(ctx: &Ctx, call: &mut Call) -> Reply {
    let program = call.param("program").map(str::to_string);
    let saved = call.param("saved").map(|n| {
        (
            "ok",
            format!("Saved. {n} card records were updated with the new mapping."),
        )
    });
    editor_page(ctx, call, 200, program.as_deref(), saved)
}

/// `POST /admin/mapping` (`program`, `field_<uid>`, `map_<uid>`, `csrf`): saves the mapping as
/// `kadi map set` would, or shows the form again with the reason it was refused.
fn save(ctx: &Ctx, call: &mut Call) -> Reply {
    let form = match super::guard::checked_form(call, MAX_FORM) {
        Ok(f) => f,
        Err(refusal) => return refusal,
    };
    let program = http::param(&form, "program").unwrap_or("").to_string();
    let mut lines = Vec::new();
    for (key, value) in &form {
        let Some(uid) = key.strip_prefix("field_") else {
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let map = http::param(&form, &format!("map_{uid}")).unwrap_or("");
        lines.push((uid.to_string(), value.trim().to_string(), map.to_string()));
    }
    let actor = Actor::Staff(
        call.staff
            .as_ref()
            .map(|s| s.username.clone())
            .unwrap_or_default(),
    );
    let saved = zone_level(&ctx.store, &program)
        .and_then(|zone| body_from_lines(&program, &lines, zone))
        .and_then(|body| crate::jobs::map_program(&ctx.store, &actor, &body));
    match saved {
        Ok(r) => Reply::redirect(&format!(
            "/admin/mapping?program={}&saved={}",
            http::percent_encode(&r.programme_uid),
            r.records_remapped
        )),
        Err(e) => editor_page(
            ctx,
            call,
            400,
            Some(&program),
            Some(("error", format!("Not saved: {e:#}"))),
        ),
    }
}
