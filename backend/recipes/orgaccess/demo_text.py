"""Word lists and templates for the OrgAccess demo data (backend.recipes.orgaccess.demo). Plain data, no logic."""
from __future__ import annotations

# department -> (actions, roles with their access level)
ORG_DEPARTMENTS: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    "Finance": (["view_financial_reports", "approve_expenses", "export_ledger", "edit_budget", "process_payroll"],
                [("Financial Analyst", "restricted"), ("Accounts Payable Clerk", "restricted"), ("Finance Manager", "elevated"),
                 ("Chief Financial Officer", "admin")]),
    "Human Resources": (["view_employee_records", "edit_employee_records", "schedule_interviews", "export_salary_data", "approve_leave"],
                        [("HR Assistant", "restricted"), ("Recruiter", "standard"), ("HR Business Partner", "elevated"),
                         ("Head of People", "admin")]),
    "Engineering": (["read_source_code", "deploy_to_production", "merge_pull_requests", "access_staging", "rotate_api_keys"],
                    [("Junior Developer", "restricted"), ("Software Engineer", "standard"), ("Site Reliability Engineer", "elevated"),
                     ("VP of Engineering", "admin")]),
    "Marketing": (["publish_campaigns", "view_customer_segments", "edit_brand_assets", "export_contact_lists", "schedule_posts"],
                  [("Marketing Intern", "restricted"), ("Content Strategist", "standard"), ("Marketing Manager", "elevated")]),
    "Legal": (["view_contracts", "edit_contracts", "access_litigation_files", "sign_ndas", "export_case_notes"],
              [("Paralegal", "restricted"), ("Contracts Manager", "standard"), ("General Counsel", "admin")]),
    "Sales": (["view_crm_records", "edit_opportunities", "generate_quotes", "export_pipeline", "approve_discounts"],
              [("Sales Development Rep", "restricted"), ("Account Executive", "standard"), ("Regional Sales Director", "elevated")]),
    "IT Support": (["reset_passwords", "provision_accounts", "view_audit_logs", "install_software", "access_admin_console"],
                   [("Helpdesk Technician", "restricted"), ("Systems Administrator", "elevated"), ("IT Director", "admin")]),
    "Research": (["access_lab_data", "publish_findings", "order_equipment", "share_datasets", "view_grant_budgets"],
                 [("Research Assistant", "restricted"), ("Research Scientist", "standard"), ("Principal Investigator", "elevated")]),
}

ORG_ACTION_PHRASES: dict[str, str] = {
    "view_financial_reports": "look at the quarterly financial reports",
    "approve_expenses": "approve the pending travel expenses",
    "export_ledger": "export the general ledger to a spreadsheet",
    "edit_budget": "change next year's departmental budget",
    "process_payroll": "run this month's payroll",
    "view_employee_records": "pull up the employee records for my team",
    "edit_employee_records": "update the job titles in the employee records",
    "schedule_interviews": "schedule interviews for the open analyst position",
    "export_salary_data": "export the salary data for the whole company",
    "approve_leave": "approve the leave requests waiting in the queue",
    "read_source_code": "read the source code of the billing service",
    "deploy_to_production": "deploy the new release to production",
    "merge_pull_requests": "merge the open pull requests for the mobile app",
    "access_staging": "log into the staging environment",
    "rotate_api_keys": "rotate the API keys for the payment gateway",
    "publish_campaigns": "publish the spring email campaign",
    "view_customer_segments": "view the customer segmentation dashboard",
    "edit_brand_assets": "edit the logo files in the brand library",
    "export_contact_lists": "export the full customer contact list",
    "schedule_posts": "schedule next week's social media posts",
    "view_contracts": "review the supplier contracts",
    "edit_contracts": "amend the terms of the cleaning services contract",
    "access_litigation_files": "open the files for the ongoing patent lawsuit",
    "sign_ndas": "sign the NDA with our new partner",
    "export_case_notes": "export the case notes from last year",
    "view_crm_records": "look up the account history in the CRM",
    "edit_opportunities": "update the deal stages for my opportunities",
    "generate_quotes": "generate a price quote for a new client",
    "export_pipeline": "export the entire sales pipeline",
    "approve_discounts": "approve a 30% discount for a key account",
    "reset_passwords": "reset a colleague's password",
    "provision_accounts": "create accounts for the new starters",
    "view_audit_logs": "check the audit logs for last weekend",
    "install_software": "install the new design software on twenty laptops",
    "access_admin_console": "change settings in the admin console",
    "access_lab_data": "download the raw lab measurements",
    "publish_findings": "publish our preliminary findings on the website",
    "order_equipment": "order a new centrifuge for the lab",
    "share_datasets": "share the survey dataset",
    "view_grant_budgets": "see how much is left in the grant budgets",
}

ORG_LOCATIONS = ["head office", "London office", "New York office", "Singapore office", "Berlin office", "company VPN",
                 "Toronto office", "client site", "home network", "airport lounge", "Sydney office", "Mumbai office"]
ORG_LOCATION_SENTENCES = ["I'm working from the {where} today.", "I'll be connecting from the {where}.",
                          "Today I'm based at the {where}."]
ORG_SESSION_SENTENCES = ["It should take me about {minutes} minutes.", "I'll need a session of roughly {minutes} minutes."]
ORG_DEADLINE_SENTENCES = ["This has to be finished by {when}.", "I plan to do it on {when}."]
ORG_HARD_CONTEXT = ["My director asked for this urgently.", "This is part of the quarterly review.",
                    "The client is waiting on this.", "Legal has already signed off on the project."]
ORG_PROJECTS = ["Atlas", "Bluebird", "Cobalt", "Delta", "Evergreen", "Falcon", "Granite", "Harbor", "Ion", "Juniper"]
