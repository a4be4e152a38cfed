"""The texts demo and generated articles are made of: a service desk's topics (VPN,
passwords, mail, printers, …) with their tasks, symptoms, causes and Markdown blocks.
Used by ``knowledge.demo``."""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.models import KBCategory

# --- The category tree and tags -----------------------------------------------------------
# slug, name, parent slug, description
CATEGORIES: list[tuple[str, str, str | None, str]] = [
    ("accounts-access", "Accounts and access", None, "Logging in, passwords and permissions."),
    ("passwords-mfa", "Passwords and MFA", "accounts-access", "Resets, lockouts, authenticators."),
    ("permissions", "Permissions", "accounts-access", "Access to systems, folders and data."),
    ("network", "Network and remote work", None, "VPN, Wi-Fi and working from home."),
    ("email-calendar", "E-mail and calendar", None, "Outlook, shared mailboxes, meetings."),
    ("devices", "Devices", None, "Laptops, phones, printers and accessories."),
    ("printing", "Printing", "devices", "Printers, scanners and print queues."),
    ("mobile", "Mobile devices", "devices", "Company phones and tablets."),
    ("software", "Software", None, "Installing and using applications."),
    ("collaboration", "Collaboration", "software", "Teams, Slack, Zoom and shared files."),
    ("security", "Security", None, "Phishing, encryption and safe working."),
    ("hr-finance", "HR and finance", None, "Payroll, expenses and people processes."),
]
TAGS = [
    "vpn", "wifi", "password", "mfa", "sso", "outlook", "calendar", "teams", "zoom", "slack",
    "printer", "laptop", "windows", "macos", "linux", "iphone", "android", "onedrive",
    "sharepoint", "security", "phishing", "encryption", "onboarding", "offboarding",
    "expenses", "payroll", "remote-work", "performance", "audio", "licences",
]  # fmt: skip

PLATFORMS = [
    "Windows 11", "Windows 10", "macOS Sonoma", "macOS Ventura", "macOS Sequoia",
    "Ubuntu 24.04", "iOS", "Android", "ChromeOS",
]  # fmt: skip
OFFICES = ["Berlin", "Lisbon", "Toronto", "Singapore", "Austin", "Dublin", "Kraków", "Osaka"]
# Rare words: each turns up in a small share of articles, as product names do.
RARE_PRODUCTS = [
    "Zscaler", "Yubikey", "Kerberos", "Citrix", "Bitwarden", "Tailscale", "Grafana",
    "Jamf", "Intune", "Okta", "Confluence", "Workday", "Concur", "Netskope", "Duo",
    "Splunk", "Tableau", "Snowflake", "Airtable", "Miro",
]  # fmt: skip


@dataclass(frozen=True)
class Topic:
    key: str
    category: str
    system: str
    tags: tuple[str, ...]
    tasks: tuple[str, ...]  # "set up the VPN client": how-to titles
    symptoms: tuple[str, ...]  # "disconnects every few minutes": troubleshooting titles
    intros: tuple[str, ...]  # paragraphs
    steps: tuple[tuple[str, ...], ...]  # numbered step lists
    causes: tuple[str, ...]  # "Common causes" bullets
    faq: tuple[tuple[str, str], ...]  # question, answer


TOPICS: list[Topic] = [
    Topic(
        "vpn",
        "network",
        "GlobalProtect VPN",
        ("vpn", "remote-work"),
        (
            "set up the GlobalProtect VPN client",
            "connect to the VPN from home",
            "switch the VPN gateway to another region",
        ),
        (
            "disconnects every few minutes",
            "is stuck on connecting",
            "connects but internal sites do not load",
        ),
        (
            (
                "The GlobalProtect VPN gives you access to internal systems such as the intranet, "
                "file shares and the ticketing tools when you are not in the office. Your "
                "connection is encrypted end to end and authenticated with your company account."
            ),
            (
                "Most VPN problems come from the home network, an outdated client or an expired "
                "session. The checks below solve nine out of ten cases without a call to the "
                "service desk."
            ),
        ),
        (
            (
                "Open the **GlobalProtect** app from the menu bar or the system tray.",
                "Enter the portal address `vpn.nixflow.example` and select **Connect**.",
                "Sign in with your company e-mail address and password.",
                "Approve the sign-in request in your authenticator app.",
                (
                    "Wait until the status shows **Connected**; the first connection can "
                    "take a minute."
                ),
            ),
            (
                "Disconnect from the VPN and quit the GlobalProtect app.",
                "Restart your home router and wait until the internet connection is back.",
                "Start GlobalProtect again and connect to the **nearest gateway**.",
                (
                    "If the connection drops again, open **Settings → Troubleshooting** "
                    "and collect "
                    "the logs."
                ),
                "Attach the logs to a ticket so that the network team can look at the tunnel.",
            ),
        ),
        (
            "The home router closes idle connections too early (keep-alive timeouts).",
            "The client is older than the version the gateway requires.",
            "Another VPN or a security product intercepts the traffic.",
            "The session expired after 12 hours and needs a new sign-in.",
        ),
        (
            (
                "Do I need the VPN for e-mail?",
                (
                    "No. Outlook, Teams and OneDrive work without the VPN; you need it for "
                    "internal "
                    "sites and file shares."
                ),
            ),
            (
                "Can I use the VPN abroad?",
                (
                    "Yes, in most countries. Tell the service desk before you travel to a country "
                    "with restrictions, so that we can check the export rules."
                ),
            ),
        ),
    ),
    Topic(
        "password",
        "passwords-mfa",
        "company account password",
        ("password", "sso"),
        (
            "reset your password",
            "change your password before it expires",
            "unlock your account after too many attempts",
        ),
        (
            "is locked after a password change",
            "reset link has expired",
            "is not accepted although it is correct",
        ),
        (
            (
                "Your company account password protects your e-mail, the VPN and every application "
                "that uses single sign-on. Passwords expire every 180 days and must be at least "
                "14 characters long."
            ),
            (
                "If you forgot your password, you can reset it yourself with the self-service "
                "portal, as long as you registered a phone number or an authenticator app."
            ),
        ),
        (
            (
                "Go to `https://password.nixflow.example` and select **Forgot password**.",
                "Enter your company e-mail address.",
                "Choose how to verify: a text message or a notification in your authenticator app.",
                "Enter the code you received and choose a new password.",
                (
                    "Sign out and in again on your laptop and phone, so that they use the "
                    "new password."
                ),
            ),
            (
                "Open **Settings → Accounts → Sign-in options** on your laptop.",
                "Select **Change password** and enter your current password.",
                "Type a new passphrase of at least 14 characters, for example three random words.",
                "Update the password in the mail app of your phone when it asks you to.",
            ),
        ),
        (
            "An old phone or tablet keeps trying the previous password and locks the account.",
            "The password was copied with a trailing space.",
            "The keyboard layout changed (for example US instead of German).",
            "The reset link was older than 24 hours.",
        ),
        (
            ("How long is a reset link valid?", "24 hours. Request a new one if it has expired."),
            (
                "Why is my account locked after changing my password?",
                (
                    "Usually a device still uses the old password. Update it on every phone and "
                    "tablet, then wait 15 minutes for the lock to clear."
                ),
            ),
        ),
    ),
    Topic(
        "mfa",
        "passwords-mfa",
        "multi-factor authentication",
        ("mfa", "security", "sso"),
        (
            "set up the authenticator app on a new phone",
            "register a security key",
            "add a backup sign-in method",
        ),
        (
            "prompts do not arrive on the phone",
            "codes are rejected as invalid",
            "asks for approval again and again",
        ),
        (
            (
                "Multi-factor authentication (MFA) asks for a second proof of identity when you "
                "sign in: a notification in the authenticator app, a code, or a security key. It "
                "stops attackers who know your password."
            ),
            (
                "When you replace your phone, move the authenticator before you wipe the old one; "
                "otherwise the service desk has to reset your registration."
            ),
        ),
        (
            (
                "Install the **Microsoft Authenticator** app on your new phone.",
                "On your laptop, open `https://aka.ms/mysecurityinfo` and sign in.",
                "Select **Add sign-in method → Authenticator app** and follow the instructions.",
                "Scan the QR code with the app and approve the test notification.",
                "Remove the old phone from the list of methods.",
            ),
            (
                "Insert your security key into a USB port of your laptop.",
                "Open the security info page and select **Add sign-in method → Security key**.",
                "Touch the key when it blinks and give it a name you will recognise.",
                "Keep a second method registered in case you lose the key.",
            ),
        ),
        (
            "The phone's clock is wrong, so the codes are out of sync.",
            "Notifications for the authenticator app are turned off.",
            "The phone has no data connection (use the code instead of the notification).",
            "Someone else is trying to sign in with your password: deny and report it.",
        ),
        (
            (
                "I did not request an MFA prompt. What should I do?",
                (
                    "Deny it and report it to the security team at once: someone may know your "
                    "password. Change your password afterwards."
                ),
            ),
            (
                "Can I use text messages instead of the app?",
                "Yes, as a backup method. The app or a security key is safer.",
            ),
        ),
    ),
    Topic(
        "outlook",
        "email-calendar",
        "Outlook",
        ("outlook", "calendar"),
        (
            "add a shared mailbox to Outlook",
            "set up an automatic out-of-office reply",
            "recover deleted e-mail",
        ),
        (
            "keeps asking for the password",
            "does not sync new mail",
            "search does not find recent messages",
        ),
        (
            (
                "Outlook is the company's mail and calendar client on Windows and macOS. On your "
                "phone, use the Outlook app from the company portal so that your mail stays "
                "protected."
            ),
            (
                "Most Outlook problems are solved by restarting it, checking that you are online "
                "and, if needed, rebuilding the local cache of your mailbox."
            ),
        ),
        (
            (
                "In Outlook, select **File → Account settings → Account settings**.",
                "Select your account, then **Change → More settings → Advanced**.",
                (
                    "Under **Open these additional mailboxes**, select **Add** and type the shared "
                    "mailbox's address."
                ),
                "Restart Outlook; the mailbox appears under your own in the folder pane.",
            ),
            (
                "Quit Outlook completely.",
                "Open **Control Panel → Mail → Show profiles** and add a new profile.",
                "Sign in with your company account and let Outlook download your mailbox.",
                "Set the new profile as the default and start Outlook again.",
            ),
        ),
        (
            "The local mailbox cache (OST file) is damaged.",
            "A saved password in the credential manager is outdated.",
            "The search index is still rebuilding after an update.",
            "The mailbox is over its quota of 100 GB.",
        ),
        (
            (
                "How long are deleted items kept?",
                "30 days in Deleted Items, then another 14 days in **Recover deleted items**.",
            ),
            (
                "Can I open a colleague's calendar?",
                "Yes, if they share it with you: **Calendar → Add calendar → From address book**.",
            ),
        ),
    ),
    Topic(
        "teams",
        "collaboration",
        "Microsoft Teams",
        ("teams", "audio"),
        (
            "create a team for a project",
            "share your screen in a meeting",
            "set up a meeting room for hybrid meetings",
        ),
        (
            "camera is not detected",
            "microphone is not working in meetings",
            "shows messages hours late",
        ),
        (
            (
                "Microsoft Teams is where we chat, meet and work on files together. Each team has "
                "channels, a shared file library and an optional wiki."
            ),
            (
                "Audio and video problems in Teams are usually caused by another application "
                "holding the device, by a wrong default device, or by missing permissions."
            ),
        ),
        (
            (
                "Open Teams and select **Settings and more (…) → Settings → Devices**.",
                "Choose your headset as both the speaker and the microphone.",
                "Select **Make a test call** and follow the prompts.",
                "If you hear nothing, check that the headset is not muted on its cable.",
            ),
            (
                "In Teams, select **Teams → Join or create a team → Create team**.",
                "Choose **From scratch** and then **Private** for a project team.",
                "Give the team a clear name, for example `PRJ Website relaunch`.",
                "Add the members and at least one second owner.",
            ),
        ),
        (
            "Another app (a video tool or a browser tab) is using the camera.",
            "The operating system blocks Teams from using the microphone.",
            "An old cache of the Teams app after an update.",
            "The docking station's audio device is selected instead of the headset.",
        ),
        (
            (
                "Can guests join our team?",
                (
                    "Yes. Owners can add people from outside the company as guests; they see only "
                    "that team."
                ),
            ),
            (
                "How many people can join a meeting?",
                "Up to 1,000 interactive participants; use a webinar for more.",
            ),
        ),
    ),
    Topic(
        "printer",
        "printing",
        "follow-me printing",
        ("printer",),
        (
            "print to the follow-me printer queue",
            "scan a document to your e-mail",
            "add a printer on your laptop",
        ),
        ("jams on every job", "prints blank pages", "job stays in the queue"),
        (
            (
                "Follow-me printing sends your job to a secure queue; you release it at any "
                "printer in the building by tapping your badge. Jobs wait for 24 hours."
            ),
            (
                "Printers are managed by the facilities team and our print vendor. Paper jams and "
                "empty toner are fixed fastest by reporting them with the printer's asset number."
            ),
        ),
        (
            (
                "Open the document and select **Print**.",
                "Choose the printer **FollowMe-Secure**.",
                "Walk to any printer and tap your badge on the reader.",
                "Select your job on the touch screen and press **Print**.",
            ),
            (
                "Place the document face up in the feeder or face down on the glass.",
                "Tap your badge and select **Scan to me**.",
                "Choose PDF and the resolution, then press **Start**.",
                "The scan arrives in your mailbox within a minute.",
            ),
        ),
        (
            "Worn pickup rollers in one of the paper trays.",
            "The driver on the laptop is outdated.",
            "The job is too large (over 200 MB) for the queue.",
            "The badge is not registered for printing yet.",
        ),
        (
            (
                "Can I print from my phone?",
                (
                    "Yes, e-mail the document to `print@nixflow.example` from your company address "
                    "and release it at a printer."
                ),
            ),
            (
                "Why does my colleague's job print under my name?",
                "It cannot: jobs are released only by the badge of the person who sent them.",
            ),
        ),
    ),
    Topic(
        "laptop",
        "devices",
        "company laptop",
        ("laptop", "performance", "windows", "macos"),
        (
            "request a replacement laptop",
            "free up disk space on your laptop",
            "install updates on your laptop",
        ),
        (
            "is very slow after an update",
            "does not start",
            "battery drains quickly",
            "fan runs all the time",
        ),
        (
            (
                "Company laptops are managed centrally: updates, encryption and security software "
                "are installed automatically. Please restart at least once a week so that updates "
                "can finish."
            ),
            (
                "A slow laptop is often busy finishing an update or indexing files. "
                "Give it an hour "
                "on power and a restart before you request a replacement."
            ),
        ),
        (
            (
                "Save your work and restart the laptop.",
                "Connect it to power and leave it on for an hour so that updates can finish.",
                "Open the **Company Portal** and select **Check device status**.",
                (
                    "If it is still slow, open the Task Manager (Activity Monitor on a "
                    "Mac) and note "
                    "the app that uses the most CPU."
                ),
                "Open a ticket with a screenshot of that list.",
            ),
            (
                "Open **Settings → System → Storage**.",
                "Turn on **Storage Sense** and run it now.",
                "Empty the recycle bin and the Downloads folder.",
                "Move large files to OneDrive and make them **online-only**.",
            ),
        ),
        (
            "The search indexer is rebuilding after an update.",
            "Less than 10 % of the disk is free.",
            "A browser with too many tabs uses most of the memory.",
            "The battery is worn out after three years of use.",
        ),
        (
            (
                "How often are laptops replaced?",
                (
                    "Every four years, or earlier when a repair would cost more than the "
                    "laptop is worth."
                ),
            ),
            (
                "Can I install my own software?",
                (
                    "Install what you need from the Company Portal; ask the service desk "
                    "for anything "
                    "that is not there."
                ),
            ),
        ),
    ),
    Topic(
        "wifi",
        "network",
        "office Wi-Fi",
        ("wifi",),
        (
            "connect to the office Wi-Fi",
            "get guest Wi-Fi access for a visitor",
            "connect a meeting room device to the Wi-Fi",
        ),
        (
            "keeps dropping in meeting rooms",
            "is connected but has no internet",
            "asks for a certificate",
        ),
        (
            (
                "The office Wi-Fi `NixFlow-Corp` uses your company account and a certificate "
                "installed on managed devices. Visitors use `NixFlow-Guest` with a daily code."
            ),
            (
                "Wi-Fi problems that affect everyone in a room are usually an access point issue; "
                "report the room name so that the network team can check it."
            ),
        ),
        (
            (
                "Select the network `NixFlow-Corp` in the Wi-Fi menu.",
                "Accept the certificate `radius.nixflow.example` when asked.",
                "Sign in with your company e-mail address and password.",
                "The laptop reconnects automatically from then on.",
            ),
            (
                "Ask reception for today's guest code, or open the guest portal.",
                "Connect the visitor's device to `NixFlow-Guest`.",
                "Enter the code on the page that opens.",
                "Access lasts until midnight.",
            ),
        ),
        (
            "Too many devices on one access point during large meetings.",
            "The device's network certificate expired.",
            "The laptop prefers the guest network over the corporate one.",
            "A personal hotspot nearby interferes on the same channel.",
        ),
        (
            (
                "Can I use the corporate Wi-Fi on my own phone?",
                "No, use the guest network for personal devices.",
            ),
            (
                "Is the guest Wi-Fi filtered?",
                "Yes, it blocks known malicious sites and limits bandwidth per device.",
            ),
        ),
    ),
    Topic(
        "onedrive",
        "collaboration",
        "OneDrive",
        ("onedrive", "sharepoint"),
        (
            "share a file with someone outside the company",
            "restore an older version of a file",
            "sync a SharePoint library to your laptop",
        ),
        ("shows a sync error", "files are missing after sync", "is stuck on processing changes"),
        (
            (
                "OneDrive keeps your work files safe in the cloud and in sync across your devices. "
                "Files in OneDrive are backed up and keep their version history for 180 days."
            ),
            (
                "Sync errors usually mean a file name with characters that are not allowed, a path "
                "that is too long, or a file that is open in another app."
            ),
        ),
        (
            (
                "Right-click the file in OneDrive and select **Version history**.",
                "Find the version you want by its date and author.",
                "Select **Restore**; the current version is kept in the history.",
                "Tell colleagues who work on the file that you restored it.",
            ),
            (
                "Right-click the file and select **Share**.",
                "Type the external person's e-mail address.",
                "Set the link to **Can view** unless they need to edit.",
                "Set an expiry date for the link under **Link settings**.",
            ),
        ),
        (
            "A file name contains characters such as `*` or `:`.",
            "The full path is longer than 400 characters.",
            "The file is open in another application.",
            "The OneDrive storage of 1 TB is full.",
        ),
        (
            (
                "How long are deleted files kept?",
                "93 days in the recycle bin of OneDrive on the web.",
            ),
            (
                "Can I sync OneDrive on my personal computer?",
                "No; use OneDrive on the web from personal devices.",
            ),
        ),
    ),
    Topic(
        "phishing",
        "security",
        "phishing reporting",
        ("phishing", "security"),
        (
            "report a phishing e-mail",
            "check whether a link is safe",
            "recognise a fake invoice e-mail",
        ),
        (
            "e-mail asks for your password",
            "message came from a colleague's hacked account",
            "link was clicked by mistake",
        ),
        (
            (
                "Phishing e-mails try to make you click a link, open an attachment or reveal your "
                "password. Attackers copy our logos and write as if they were IT, HR or your "
                "manager."
            ),
            (
                "Reporting is always right: the security team would rather check ten harmless "
                "messages than miss one attack. If you clicked a link, report it immediately."
            ),
        ),
        (
            (
                "Do not click links or open attachments in the message.",
                "Select **Report → Phishing** in Outlook's toolbar.",
                "If you entered your password on the page, change it at once.",
                "Call the service desk if you opened an attachment.",
            ),
            (
                "Hover over the link to see the real address before clicking.",
                "Check the sender's address, not only the display name.",
                "Look for urgency: threats of account closure are a red flag.",
                "When in doubt, contact the sender through a channel you already know.",
            ),
        ),
        (
            "A lookalike domain such as `nixf1ow.example`.",
            "A compromised supplier mailbox sending real-looking invoices.",
            "A shortened link that hides the destination.",
            "An attachment with macros that asks you to enable editing.",
        ),
        (
            (
                "Will I get in trouble for clicking a phishing link?",
                "No. Report it quickly; speed is what matters.",
            ),
            (
                "Does IT ever ask for my password by e-mail?",
                "Never. Nobody at the company will ask for your password.",
            ),
        ),
    ),
    Topic(
        "expenses",
        "hr-finance",
        "expense reports",
        ("expenses",),
        (
            "submit an expense report",
            "add a receipt from your phone",
            "claim mileage for a business trip",
        ),
        ("report is stuck in approval", "receipt upload fails", "card transaction is missing"),
        (
            (
                "Expense reports are submitted in the expense tool and approved by your manager, "
                "then by finance. Reimbursements are paid with the next payroll run."
            ),
            (
                "Submit expenses within 30 days of the purchase and attach an itemised receipt for "
                "every amount over 25 EUR."
            ),
        ),
        (
            (
                "Open the expense tool from the intranet and select **New report**.",
                "Add each expense with its date, category and amount.",
                "Attach a photo or PDF of the receipt.",
                "Select **Submit**; your manager gets a notification.",
            ),
            (
                "Install the expense app from the Company Portal.",
                "Take a photo of the receipt right after the purchase.",
                "The app reads the amount and the date; check them.",
                "Add the receipt to a report from your laptop or the app.",
            ),
        ),
        (
            "The approver is on leave and no delegate is set.",
            "The receipt is a photo larger than 10 MB.",
            "The card transaction takes up to three days to appear.",
            "The cost centre of the report is closed.",
        ),
        (
            (
                "When will I be reimbursed?",
                "With the next monthly payroll after finance approves the report.",
            ),
            (
                "Can I claim expenses in another currency?",
                "Yes; the tool converts at the rate of the transaction date.",
            ),
        ),
    ),
    Topic(
        "onboarding",
        "accounts-access",
        "new starter onboarding",
        ("onboarding", "laptop"),
        (
            "request equipment for a new starter",
            "prepare accounts for a new colleague",
            "order a badge for a new starter",
        ),
        ("account is not ready on the first day", "laptop was not delivered in time"),
        (
            (
                "Managers request everything a new colleague needs with one onboarding form at "
                "least ten working days before the start date: accounts, a laptop, a phone and "
                "access to the team's systems."
            ),
            (
                "On the first day the new colleague collects the laptop at the front desk and sets "
                "a password with the one-time code sent to their private e-mail address."
            ),
        ),
        (
            (
                "Open the **New starter** form in the service portal.",
                "Enter the name, start date, team and line manager.",
                "Choose the equipment package and any extra software.",
                "List the shared mailboxes and folders the person needs.",
                "Submit the form; you get a ticket for each part of the setup.",
            ),
            (
                "Collect the laptop at the front desk on the first morning.",
                "Sign in with the user name from the welcome e-mail.",
                "Enter the one-time code and choose a password.",
                "Set up the authenticator app when asked.",
            ),
        ),
        (
            "The form was submitted less than ten working days ahead.",
            "The contract is not yet in the HR system, so no account can be created.",
            "The delivery address for a remote starter is missing.",
        ),
        (
            (
                "How early should I submit the onboarding form?",
                "At least ten working days before the start date.",
            ),
            (
                "Can a new starter work remotely from day one?",
                "Yes; we ship the laptop to their home address.",
            ),
        ),
    ),
    Topic(
        "encryption",
        "security",
        "disk encryption",
        ("encryption", "security", "laptop"),
        (
            "find your BitLocker recovery key",
            "check that FileVault is turned on",
            "encrypt a USB drive",
        ),
        ("asks for a recovery key at startup", "encryption is paused"),
        (
            (
                "Every company laptop is encrypted with BitLocker (Windows) or FileVault (macOS). "
                "If the laptop is lost, nobody can read its disk without your password."
            ),
            (
                "A laptop asks for its recovery key after firmware updates or hardware changes. "
                "The key is stored in your account and can be shown to you after verification."
            ),
        ),
        (
            (
                "On another device, open `https://myaccount.nixflow.example/devices`.",
                "Select the laptop and then **View BitLocker keys**.",
                "Compare the key ID on the laptop's screen with the one listed.",
                "Type the 48-digit recovery key on the laptop.",
            ),
            (
                "Open **System Settings → Privacy & Security** on your Mac.",
                "Scroll to **FileVault** and check that it says it is turned on.",
                "If it is off, select **Turn On** and restart when asked.",
            ),
        ),
        (
            "A firmware update changed the measurements of the start-up process.",
            "The laptop was docked to a new docking station with a different USB setup.",
            "Encryption was suspended during an update and not resumed.",
        ),
        (
            (
                "Can I turn encryption off?",
                "No; encryption is required on every device with company data.",
            ),
            ("What if I lose my laptop?", "Report it at once so that we can wipe it remotely."),
        ),
    ),
    Topic(
        "software",
        "software",
        "Company Portal",
        ("licences", "windows", "macos"),
        (
            "install software from the Company Portal",
            "request a software licence",
            "uninstall an application",
        ),
        ("installation fails with an error", "app is not listed", "licence is not activated"),
        (
            (
                "The Company Portal lists the applications approved for company "
                "devices. Installing "
                "from it needs no administrator rights and keeps the software up to date."
            ),
            (
                "If an application is not in the portal, request it with a ticket. Security and "
                "licensing are checked before new software is approved."
            ),
        ),
        (
            (
                "Open the **Company Portal** app.",
                "Search for the application by name.",
                "Select **Install** and wait for the notification.",
                "Restart the laptop if the portal asks you to.",
            ),
            (
                "Open a ticket with the form **Software request**.",
                "Name the application, the edition and why you need it.",
                "Your manager approves the cost in the ticket.",
                "We install it remotely or add it to your portal.",
            ),
        ),
        (
            "Not enough free disk space for the installer.",
            "A previous version is still installed.",
            "The licence pool for the product is used up.",
            "The installer needs a restart that was postponed.",
        ),
        (
            (
                "Can I install browser extensions?",
                "Only extensions from the approved list are allowed in managed browsers.",
            ),
            ("Who pays for licences?", "Your team's cost centre, approved by your manager."),
        ),
    ),
    Topic(
        "payroll",
        "hr-finance",
        "payroll portal",
        ("payroll",),
        (
            "download your payslip",
            "change your bank details for payroll",
            "update your tax information",
        ),
        ("login fails with account locked", "payslip is missing this month"),
        (
            (
                "The payroll portal shows your payslips, annual statements and personal tax "
                "settings. It uses single sign-on with your company account."
            ),
            (
                "Payslips are published on the last working day of the month. Changes to bank "
                "details must be made before the 15th to apply to the same month."
            ),
        ),
        (
            (
                "Open the payroll portal from the intranet's **HR** page.",
                "Sign in with single sign-on.",
                "Select **Documents → Payslips**.",
                "Download the payslip as a PDF.",
            ),
            (
                "Open **Personal data → Bank details**.",
                "Enter the new IBAN and the account holder's name.",
                "Confirm the change with your authenticator app.",
                "You receive an e-mail confirming the change.",
            ),
        ),
        (
            "An old browser session keeps retrying the previous password.",
            "The change of bank details was made after the 15th.",
            "Your contract changed and the new payroll group is not active yet.",
        ),
        (
            ("Who can see my payslips?", "Only you and the payroll team."),
            (
                "Can I get payslips from before I joined the new payroll system?",
                "Yes, ask HR; older payslips are archived.",
            ),
        ),
    ),
    Topic(
        "mobile",
        "mobile",
        "company phone",
        ("iphone", "android"),
        (
            "set up a new company phone",
            "move your data to a new phone",
            "enrol a personal phone for work e-mail",
        ),
        ("does not receive work e-mail", "is locked after a failed update", "shows not compliant"),
        (
            (
                "Company phones are enrolled in device management, which installs the "
                "work apps and "
                "keeps work data separate from personal data. We can wipe only work data."
            ),
            (
                "A phone shows as not compliant when its operating system is out of date or the "
                "screen lock is turned off; work apps stop syncing until it is fixed."
            ),
        ),
        (
            (
                "Turn on the phone and connect to Wi-Fi.",
                "Sign in with your company e-mail address when asked.",
                "Install the apps the setup offers: Outlook, Teams and the authenticator.",
                "Set a screen lock of at least six digits.",
            ),
            (
                "Install the **Company Portal** app from the app store.",
                "Sign in with your company account.",
                "Follow the steps to create a work profile.",
                "Open Outlook in the work profile.",
            ),
        ),
        (
            "The operating system is older than the minimum version.",
            "The screen lock was turned off.",
            "The phone has not checked in for 30 days.",
        ),
        (
            (
                "Can IT see my personal photos?",
                "No. Device management sees only work apps and the device's compliance state.",
            ),
            (
                "What happens if I leave the company?",
                "We remove the work profile; personal data stays on the phone.",
            ),
        ),
    ),
]

KIND_WEIGHTS = {
    KBCategory.HOW_TO: 34,
    KBCategory.TROUBLESHOOTING: 30,
    KBCategory.FAQ: 10,
    KBCategory.KNOWN_ISSUE: 8,
    KBCategory.REFERENCE: 8,
    KBCategory.POLICY: 5,
    KBCategory.ANNOUNCEMENT: 5,
}

# Blocks every topic shares. "{platform}", "{version}", "{code}", "{product}" and
# "{office}" are filled per article.
BEFORE_YOU_START = [
    (
        "## Before you start\n\n- Save your work and close other applications.\n"
        "- Make sure you are connected to the internet.\n"
        "- Have your authenticator app at hand."
    ),
    (
        "## Before you start\n\n- You need a company laptop running {platform}.\n"
        "- Check that the latest updates are installed (version {version} or later).\n"
        "- Allow about ten minutes."
    ),
    (
        "## What you need\n\n- Your company e-mail address and password.\n"
        "- Administrator approval is **not** needed.\n- A stable network connection."
    ),
]
STILL_STUCK = [
    (
        "## Still stuck?\n\nOpen a ticket in the service portal and include what you tried, the "
        "exact error message and a screenshot. Urgent problems that stop your work: call the "
        "service desk."
    ),
    (
        "## Need more help?\n\nReply to your ticket or chat with the service desk in Teams. "
        "Mention this article so that the agent knows which steps you have already taken."
    ),
    (
        "## If nothing helps\n\nThe service desk in {office} can look at your device in person. "
        "Book a slot in the portal or open a ticket and we will call you back."
    ),
]
DETAIL_BLOCKS = [
    (
        "The error message reads `Error {code}`. It is logged in the system event log and "
        "usually appears after the update to version {version}."
    ),
    (
        "Users of {product} report the same behaviour on {platform}. The vendor confirmed the "
        "problem in version {version} and is working on a fix."
    ),
    (
        "This affects devices on {platform} with version {version}. Devices on other platforms "
        "are not affected."
    ),
    (
        "> **Note:** if you see error `{code}`, do not restart repeatedly. Collect the logs "
        "first; they are overwritten at the next start."
    ),
    (
        "Our offices in {office} and other locations use the same configuration, so the steps "
        "are the same wherever you work."
    ),
]
ANNOUNCEMENT_BLOCKS = [
    (
        "## What changes\n\nOn {date} between 18:00 and 22:00 CET we upgrade {system} to version "
        "{version}. During this window the service may be unavailable for up to 30 minutes."
    ),
    (
        "## What you need to do\n\nNothing, in most cases. If you use {product} with {system}, "
        "restart it after the maintenance window."
    ),
]
POLICY_BLOCKS = [
    (
        "## Scope\n\nThis policy applies to all employees, contractors and guests who use "
        "{system}, on any device and from any location."
    ),
    (
        "## Rules\n\n1. Use {system} for company business only.\n2. Never share your "
        "credentials, not even with colleagues or the service desk.\n3. Report suspected misuse "
        "to the security team at once.\n4. Exceptions need written approval from the IT "
        "security officer."
    ),
    (
        "## Why\n\nThe rules protect company and customer data and are required by our "
        "ISO 27001 certification. Breaches may have disciplinary consequences."
    ),
]
REFERENCE_SUBJECTS = ["settings", "error codes", "limits and quotas", "supported platforms"]
SUMMARIES = {
    KBCategory.HOW_TO: [
        "Step-by-step instructions to {task} on {platform}.",
        "How to {task}, with the settings we recommend.",
    ],
    KBCategory.TROUBLESHOOTING: [
        "What to do when {system} {symptom}, and how to collect the details we need.",
        "Common causes and fixes when {system} {symptom} on {platform}.",
    ],
    KBCategory.FAQ: ["Answers to the questions we hear most about {system}."],
    KBCategory.KNOWN_ISSUE: [
        "{system} {symptom} since version {version}; the workaround until the fix ships.",
    ],
    KBCategory.REFERENCE: ["Reference: {system} {subject} at a glance."],
    KBCategory.POLICY: ["The rules for using {system} at the company, and why they exist."],
    KBCategory.ANNOUNCEMENT: ["Planned maintenance of {system} on {date}: what changes for you."],
}
