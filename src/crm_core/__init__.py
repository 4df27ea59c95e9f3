"""crm_core: the CRM's domain — funnels, contacts, leads, deals, activities — and its ports."""

from crm_core.activity import Activity, ActivityType, Links
from crm_core.commands import UNSET, Maybe
from crm_core.contact import Contact
from crm_core.deal import Deal
from crm_core.errors import (
    Conflict,
    DomainError,
    InvalidValue,
    NotFound,
    PermissionDenied,
    ProviderFailed,
    ProviderTimedOut,
    TooManyAttempts,
    ValidationFailed,
)
from crm_core.funnel import DEFAULT_STAGES, Funnel, Stage, StageSpec
from crm_core.history import StageTransition
from crm_core.lead import Lead, LeadStatus
from crm_core.messaging import ChatType, Message, MessageStatus, MessageType, MessagingAccount
from crm_core.services.activities import ActivityUseCases, ChangeActivity, CreateActivity
from crm_core.services.contacts import ChangeContact, ContactUseCases, CreateContact
from crm_core.services.funnels import ChangeFunnel, ChangeStage, FunnelUseCases
from crm_core.services.inbound import InboundUseCases
from crm_core.services.messaging_accounts import AccountUseCases
from crm_core.services.pipeline import (
    ChangeDeal,
    ChangeLead,
    ConvertLead,
    CreateDeal,
    CreateLead,
    DealUseCases,
    LeadUseCases,
)
from crm_core.services.sending import SendingUseCases
from crm_core.services.tenancy import (
    AccessUseCases,
    AddUser,
    ChangeBranch,
    ChangeOwnPassword,
    ChangeUser,
    CreateBranch,
)
from crm_core.tenancy import Actor, ApiToken, Branch, Company, Role, User
from crm_core.values import Color, Money, PhoneNumber, Probability

__all__ = [
    "DEFAULT_STAGES",
    "UNSET",
    "AccessUseCases",
    "AccountUseCases",
    "Activity",
    "ActivityType",
    "ActivityUseCases",
    "Actor",
    "AddUser",
    "ApiToken",
    "Branch",
    "ChangeActivity",
    "ChangeBranch",
    "ChangeContact",
    "ChangeDeal",
    "ChangeFunnel",
    "ChangeLead",
    "ChangeOwnPassword",
    "ChangeStage",
    "ChangeUser",
    "ChatType",
    "Color",
    "Company",
    "Conflict",
    "Contact",
    "ContactUseCases",
    "ConvertLead",
    "CreateActivity",
    "CreateBranch",
    "CreateContact",
    "CreateDeal",
    "CreateLead",
    "Deal",
    "DealUseCases",
    "DomainError",
    "Funnel",
    "FunnelUseCases",
    "InboundUseCases",
    "InvalidValue",
    "Lead",
    "LeadStatus",
    "LeadUseCases",
    "Links",
    "Maybe",
    "Message",
    "MessageStatus",
    "MessageType",
    "MessagingAccount",
    "Money",
    "NotFound",
    "PermissionDenied",
    "PhoneNumber",
    "Probability",
    "ProviderFailed",
    "ProviderTimedOut",
    "Role",
    "SendingUseCases",
    "Stage",
    "StageSpec",
    "StageTransition",
    "TooManyAttempts",
    "User",
    "ValidationFailed",
]
