//! The five resource types the client fetches, with the names the expose
//! API uses for them (`EndPointsEnum`, paths, `deletedEntities` keys).

use skolsync_model::ObjectType;

/// A resource type of the expose API (`Code_ObjectType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    /// `Organisation`.
    Organisation,
    /// `Person`.
    Person,
    /// `Group`.
    Group,
    /// `Duty`.
    Duty,
    /// `Activity`.
    Activity,
}

impl ResourceType {
    /// The README's order: ORGANISATION, PERSON, GROUP, DUTY, ACTIVITY.
    pub const ORDER: [ResourceType; 5] = [
        ResourceType::Organisation,
        ResourceType::Person,
        ResourceType::Group,
        ResourceType::Duty,
        ResourceType::Activity,
    ];

    /// `EndPointsEnum` value.
    pub fn name(self) -> &'static str {
        match self {
            ResourceType::Organisation => "Organisation",
            ResourceType::Person => "Person",
            ResourceType::Group => "Group",
            ResourceType::Duty => "Duty",
            ResourceType::Activity => "Activity",
        }
    }

    /// From an `EndPointsEnum` value (exact, as the spec lists it).
    pub fn from_name(name: &str) -> Option<ResourceType> {
        Self::ORDER.into_iter().find(|t| t.name() == name)
    }

    /// Its list path under the API base.
    pub fn path(self) -> &'static str {
        match self {
            ResourceType::Organisation => "/organisations",
            ResourceType::Person => "/persons",
            ResourceType::Group => "/groups",
            ResourceType::Duty => "/duties",
            ResourceType::Activity => "/activities",
        }
    }

    /// Its keys in `deletedEntities.data`: the spec's spelling
    /// (`activitites`) and the plain one.
    pub fn deleted_keys(self) -> &'static [&'static str] {
        match self {
            ResourceType::Organisation => &["organisations"],
            ResourceType::Person => &["persons"],
            ResourceType::Group => &["groups"],
            ResourceType::Duty => &["duties"],
            ResourceType::Activity => &["activitites", "activities"],
        }
    }

    /// The provisioning profile's type, judged by its rules (`None` for
    /// organisations, which the Provisioning API does not take).
    pub fn profile_type(self) -> Option<ObjectType> {
        match self {
            ResourceType::Organisation => None,
            ResourceType::Person => Some(ObjectType::Person),
            ResourceType::Group => Some(ObjectType::Group),
            ResourceType::Duty => Some(ObjectType::Duty),
            ResourceType::Activity => Some(ObjectType::Activity),
        }
    }
}
