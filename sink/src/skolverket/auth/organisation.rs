//! The huvudman's organisation number against a token's `organization_id`.

use super::{Claims, JwtProblem};

/// The ten digits of an organisation number written `212000-0000`,
/// `2120000000` or `SE2120000000` (as a token's `organization_id`); `None`
/// for anything else.
pub fn organisation_digits(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text
        .strip_prefix("SE")
        .or_else(|| text.strip_prefix("se"))
        .unwrap_or(text);
    let digits: String = text.chars().filter(|c| *c != '-' && *c != ' ').collect();
    (digits.len() == 10 && digits.chars().all(|c| c.is_ascii_digit())).then_some(digits)
}

/// The token's `organization_id` names the huvudman `expected` (ten
/// digits), when the pipeline names one. The authorisation README's token
/// carries `"organization_id": "SE2021004185"`, and it asks the receiver of
/// a token to "Kontrollera att `organization_id` i JWT är Skolverkets
/// organisationsnummer"; the same check, made on our own token, catches a
/// certificate of another huvudman before anything is sent. Not
/// documented: that tokens for the Provisioning API carry the claim;
/// chosen: when the pipeline names the organisation, a token without the
/// claim is refused too (the check was asked for and cannot be made).
pub fn check_organisation(claims: &Claims, expected: Option<&str>) -> Result<(), JwtProblem> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match &claims.organization_id {
        None => Err(JwtProblem::Invalid(format!(
            "the token names no `organization_id`, so it cannot be checked against the huvudman's organisation number {expected} (organisation_number)"
        ))),
        Some(id) if organisation_digits(id).as_deref() == Some(expected) => Ok(()),
        Some(id) => Err(JwtProblem::Invalid(format!(
            "the token is for the organisation `{id}`, not for the huvudman's organisation number {expected} (organisation_number): is the client certificate another huvudman's?"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_organisation_is_checked_only_when_the_pipeline_names_it() {
        let claims = |org: Option<&str>| Claims {
            exp: 5000.0,
            nbf: None,
            iss: None,
            requested_access: None,
            organization_id: org.map(str::to_string),
        };
        assert_eq!(
            organisation_digits("212000-0000").as_deref(),
            Some("2120000000")
        );
        assert_eq!(
            organisation_digits("SE2120000000").as_deref(),
            Some("2120000000")
        );
        assert_eq!(organisation_digits("21200-0000"), None);
        assert_eq!(organisation_digits("SE21200000AB"), None);

        assert!(check_organisation(&claims(None), None).is_ok());
        assert!(check_organisation(&claims(Some("SE5560000000")), None).is_ok());
        assert!(check_organisation(&claims(Some("SE2120000000")), Some("2120000000")).is_ok());
        let other = check_organisation(&claims(Some("SE5560000000")), Some("2120000000"))
            .unwrap_err()
            .to_string();
        assert!(
            other.contains("SE5560000000") && other.contains("2120000000"),
            "{other}"
        );
        let missing = check_organisation(&claims(None), Some("2120000000"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("names no `organization_id`"), "{missing}");
    }
}
