using Hl7.Fhir.Model;
using OpenDmp.Core.Clinical;
using OpenDmp.Core.Directory;
using OpenDmp.Core.Documents;
using OpenDmp.Core.Records;
using static Hl7.Fhir.Model.CapabilityStatement;

namespace OpenDmp.Server.Fhir;

/// <summary>The CapabilityStatement: exactly what this server implements, no more.</summary>
public static class CapabilityStatementBuilder
{
    public static CapabilityStatement Build(string baseUrl, OpenDmp.Core.Terminologies.TerminologySet? terminology = null)
    {
        var cs = new CapabilityStatement
        {
            Id = "opendmp",
            Url = baseUrl + "/metadata",
            Name = "OpenDMP",
            Title = "OpenDMP — dossier médical partagé",
            Status = PublicationStatus.Active,
            Date = "2026-11-22",
            Publisher = "OpenDMP",
            Kind = CapabilityStatementKind.Instance,
            Software = new SoftwareComponent { Name = "OpenDMP", Version = typeof(CapabilityStatementBuilder).Assembly.GetName().Version?.ToString() },
            Implementation = new ImplementationComponent { Description = "OpenDMP FHIR API", Url = baseUrl },
            FhirVersion = FHIRVersion.N4_0_1,
            Format = ["application/fhir+json", "json"],
            ImplementationGuide =
            [
                "https://profiles.ihe.net/ITI/MHD/ImplementationGuide/ihe.iti.mhd",
                "https://interop.esante.gouv.fr/ig/fhir/pdsm/ImplementationGuide/ans.fhir.fr.pdsm",
            ],
            Instantiates = ["https://interop.esante.gouv.fr/ig/fhir/pdsm/CapabilityStatement/PDSm-GestionnaireDePartageDeDocuments"],
        };
        var rest = new RestComponent
        {
            Mode = RestfulCapabilityMode.Server,
            Documentation = "Professionals authenticate with a client certificate (CPS model, mutual TLS) issued by the OpenDMP certification authority; the certificate's subject serialNumber carries the national PS identifier 8+RPPS. /metadata is public. Only JSON is supported. Every access passes the access policy and is recorded in the record's audit trail. Erase: POST DocumentReference/[id]/$erase (hidden, kept). Delete: DELETE DocumentReference/[id] (gone as if it never existed). Access needs a grant: treating physician, alleged consent, group practice, delegation, hospital care team ($declare-access, confirm=true), or an emergency ($emergency-access, read-only, time-boxed, notified). A refusal is a 403 that says what to do; a document one may not see answers 404. Patients authenticate with POST /patient/login (password + TOTP) and use 'Authorization: Bearer' on the same endpoints (DocumentReference, Binary, Observation, AuditEvent, Consent, Communication) and on their own operations.",
            Security = new SecurityComponent
            {
                Cors = false,
                Service = [new CodeableConcept("http://terminology.hl7.org/CodeSystem/restful-security-service", "Certificates"), new CodeableConcept("http://terminology.hl7.org/CodeSystem/restful-security-service", "OAuth", "Bearer token (patients)")],
                Description = "Professionals: mutual TLS with CPS-like X.509 client certificates. Staff members: their own staff card, acting for a professional who declared them (header X-OpenDMP-On-Behalf-Of when they work for several). Structures: their organisation certificate; with a VIHF (SAML 2.0 assertion signed by the structure, base64 in the header X-OpenDMP-VIHF, one per request) they act for the professional asserted. Patients: short-lived bearer token from POST /patient/login (password + TOTP second factor).",
            },
        };
        rest.Interaction.Add(new SystemInteractionComponent { Code = SystemRestfulInteraction.Transaction, Documentation = "IHE MHD ITI-65 Provide Document Bundle (PDSm comprehensive): SubmissionSet List, DocumentReference(s), Binary, optional FHIRPath Patch of replaced DocumentReference.status. All or nothing. A transaction with exactly one document may also carry the structured entries filed with it: Observation results with their report (class 10), a stay (Encounter) with its diagnoses (Condition) and acts (Procedure) with its letter (class 10), Immunization with a vaccination note, AllergyIntolerance and MedicationStatement (treatment at discharge) with a report, MedicationRequest lines with a prescription (class 42), MedicationDispense with a dispensing document (class 43) that appends to the prescription's document (ADR 0018)." });
        rest.Resource.Add(Resource("DocumentReference", ["read", "vread", "search-type", "create", "patch", "delete"], DocumentQueries.DocumentSearchParams, "ITI-67; vread of the current version (earlier versions are not kept); create = ITI-105 Simplified Publish (the document in attachment.data; for a CDA R2 document the metadata the DocumentReference does not give come from the CDA header); conditional create is not supported (a masterIdentifier already filed answers 409); PATCH accepts only status → superseded (archive) or current (unarchive, unless replaced); DELETE = suppression (right of rectification)"));
        rest.Resource[^1].Operation.Add(new OperationComponent { Name = "erase", Definition = "urn:opendmp:operation:DocumentReference-erase", Documentation = "Effacement: hide a document from everyone while keeping it for medico-legal purposes" });
        rest.Resource[^1].Operation.Add(Op("mask", "The patient — or the document's author at the patient's request — masks a document from professionals (except the treating physician and the author, and in an emergency unless opposed)"));
        rest.Resource[^1].Operation.Add(Op("unmask", "The patient, or the document's author, makes a masked document visible again"));
        rest.Resource[^1].Operation.Add(Op("release", "The author (or the treating physician) releases a document invisible to the patient, after the announcement consultation"));
        rest.Resource[^1].Operation.Add(Op("finalize", "The author (or the treating physician) validates a draft (docStatus preliminary → final): the patient then sees it"));
        rest.Resource.Add(Resource("List", ["read", "vread", "search-type"], DocumentQueries.ListSearchParams, "ITI-66: SubmissionSets"));
        rest.Resource.Add(Resource("Binary", ["read"], new HashSet<string>(), "ITI-68: the exact bytes of a document (Accept the document's type), or a Binary resource (Accept application/fhir+json)"));
        rest.Resource.Add(Resource("Patient", ["read", "search-type"], PatientQueries.SearchParamNames, "PDQm ITI-78: the INS (identifier), or the strict identity traits together (family = birth name, given = first given name, birthdate = YYYY-MM-DD), exact matches only, at most 10 results, never a total. Identifier systems: INS-NIR urn:oid:1.2.250.1.213.1.4.8, INS-NIA …4.9, test …4.10, demo …4.11; test identities carry meta.security HTEST. Every search is recorded in the trail of each patient it returns"));
        var patient = rest.Resource[^1];
        patient.Operation.Add(Op("open-record", "Type level (POST Patient/$open-record). A professional opens a patient's record with the patient's express consent. Parameters: consent = true (required: the informed patient expressly agreed), information-notice = the version of the notice shown (current one at /note-information), patient = the Patient (INS identifier, name, birthDate, gender; registered if unknown, compared with the registered traits otherwise) or patient-id; optional channel = office | hospital | counter, treating-physician (RPPS), oppose-break-glass, oppose-centre-15, activation-delivery = print | email | sms with email or phone, language = fr | en, birth-place (INSEE code). Returns Parameters (201): patient, registered, opened, activation-delivery, activation-code when printed"));
        patient.Operation.Add(Op("network-enrol", "Enrol the patient in a health network (Group of kind network): a member who collected the patient's consent, or the patient. Parameters: network (Group id), consent = true. Returns the enrolment (201)"));
        patient.Operation.Add(Op("network-withdraw", "End the patient's enrolment in a network (the patient or a member). Parameters: network. The members' rights end at once"));
        patient.Operation.Add(Op("network-record", "GET: the network's documents for the patient (network=Group id), a Bundle of DocumentReference of the network's space; POST (a member, the patient enrolled): add one. Parameters: network, kind = patient-file | coordination | communication, title, contentType = text/plain | application/pdf, content (base64, ≤ 5 MiB)"));
        patient.Operation.Add(Op("network-document", "GET: one network document's content (network, document)"));
        patient.Operation.Add(Op("network-publish", "A member publishes a network document into the national record (ITI-65 under the national record's policy: an authorisation there is needed). Parameters: network, document, optional type (LOINC, default 11488-4) and class (TRE_A03, default 10). Returns the DocumentReference (201)"));
        patient.Operation.Add(Op("declare-access", "A professional declares access. Parameters: mode = alleged | group | delegation | care-team; confirm = true (required: the patient's consent is confirmed); optional end, group (Group id; then members-version = the meta.versionId of GET Group/[id] shown to the patient, and exclude = RPPS of each member the patient excludes), delegating-grant (Consent id). Returns the Consent (201; excluded members as deny provisions)"));
        patient.Operation.Add(Op("declare-admission", "A professional of an establishment declares the patient's admission (optional end, member = RPPS of attested care-team members, setting = v3 ActEncounterCode, EMER for an emergency department: alerts the treating physician). Returns the admission Consent"));
        patient.Operation.Add(Op("audit-proof", "The patient (bearer token) downloads an offline-verifiable proof of their record's audit chain: entries, the signed checkpoint covering it, the Merkle path and the platform's certificate (format: docs/SECURITY.md)"));
        patient.Operation.Add(Op("emergency-access", "Vital emergency. Parameters: mode = break-glass | centre-15; reason (required). Read-only, 4 hours, always notified to the patient"));
        patient.Operation.Add(Op("access-status", "GET: the caller's authorisation status on the record: valid | expired | forbidden | none, with mode, end and consent"));
        patient.Operation.Add(Op("block", "The patient blocks a professional (practitioner = RPPS): beats every mode, emergencies included"));
        patient.Operation.Add(Op("unblock", "The patient lifts a block"));
        patient.Operation.Add(Op("emergency-preferences", "The patient's oppositions: oppose-break-glass, oppose-centre-15, oppose-emergency-unmasking, oppose-dispensing-to-prescriber (booleans)"));
        patient.Operation.Add(Op("summary", "GET: the patient summary, an International Patient Summary-shaped document Bundle (Composition LOINC 60591-5) assembled on the fly under the caller's rights: problems, current medications (each once, with sources), allergies (patient-declared ones marked unconfirmed, asserted by the patient), latest results, last stays with their main diagnosis, acts, vaccinations. A section the caller may not see is absent; a visible section without data has emptyReason 'unavailable'. One audited access"));
        patient.Operation.Add(Op("designate-treating-physician", "The patient designates their treating physician (practitioner = RPPS)"));
        rest.Resource.Add(Resource("Consent", ["search-type"], new HashSet<string> { "patient" }, "Grants: the patient sees all, a professional their own. Operations on an instance (patient only): $revoke, $extend (end or permanent=true), $exclude (practitioner, group grants), $restrict (practitioner*, admissions)"));
        foreach (var (name, doc) in new[] { ("revoke", "Revoke a grant (or the treating physician designation)"), ("extend", "Extend a grant (end) or make it permanent (permanent=true)"), ("exclude", "Exclude a member from a group grant"), ("restrict", "Restrict an admission's care team to named doctors") })
        {
            rest.Resource[^1].Operation.Add(Op(name, doc));
        }

        rest.Operation.Add(Op("send-documents", "Secure messaging: send the documents of an ITI-65 Bundle (parameter bundle) with their metadata (IHE XDM), signed with the sender's messaging key and encrypted for each recipient (recipient = RPPS, repeated), optionally also filed into the record (deposit = true). 202 with the message id and each recipient's status"));
        rest.Operation.Add(Op("message-status", "GET ?message=ID: the status of each recipient of a message the caller sent (sent, delivered, processed, displayed, filed, rejected, failed)"));
        rest.Resource.Add(Resource("Communication", ["read", "search-type"], new HashSet<string> { "patient" }, "For a patient: their notifications (emergency accesses, first access by a professional). For a professional: their unacknowledged alerts (category urn:opendmp:alert: emergency-admission, result), read by id (the focus of an alert subscription), re-decided by the policy; about = the document to open; never a value. One language per answer (Accept-Language: English, else French)"));
        rest.Resource[^1].Operation.Add(Op("acknowledge", "POST on an alert (professional): the recipient acknowledges it"));
        rest.Resource.Add(Resource("Subscription", ["create", "read", "search-type", "delete"], new HashSet<string>(), "Subscriptions Backport (R4): topic-based rest-hook subscriptions with id-only payloads, for professionals' software. criteria = one of urn:opendmp:topic:new-document (filter backport-filter-criteria patient=[id], optional), urn:opendmp:topic:alert, urn:opendmp:topic:prescription-executed. channel.endpoint https; every POST carries X-OpenDMP-Signature: t=[unix],v1=[hex HMAC-SHA256 of 't.body'] with the key returned once on creation (extension urn:opendmp:extension:subscription-signing-secret). A handshake activates the subscription; delivery at least once, retried with backoff. Only what the subscriber may read reaches them; payloads carry ids only"));
        rest.Resource[^1].Operation.Add(Op("status", "GET: the subscription's status (backport-subscription-status-r4)"));
        rest.Resource[^1].Operation.Add(Op("events", "GET ?eventsSinceNumber&eventsUntilNumber: the numbered events again, as a notification bundle (for software that cannot receive calls, or missed some)"));
        rest.Resource.Add(Resource("Practitioner", ["read", "search-type"], DirectoryQueries.PractitionerParams, "Directory; identifier urn:oid:1.2.250.1.71.4.2.1|8{RPPS}"));
        rest.Resource.Add(Resource("Organization", ["read", "search-type"], DirectoryQueries.OrganizationParams, "Directory (IHE mCSD, read-only): establishments of the FINESS extraction (identifier urn:oid:1.2.250.1.71.4.2.2|FINESS, type TRE_R66 category) and those added by the operator; active=false once the extraction no longer lists them"));
        rest.Resource.Add(Resource("PractitionerRole", ["read", "search-type"], DirectoryQueries.PractitionerRoleParams, "Directory (IHE mCSD, read-only): each activity of a professional at a site as the RPPS extraction lists it: code = profession (TRE_G15) and mode of practice, specialty = savoir-faire (TRE_R38), location = the site (Location of the same id), organization = the site's establishment when it has a FINESS. location.near=lat|lon|distance|km searches around a place, nearest first, with the distance in the entry's search (location-distance)"));
        rest.Resource.Add(Resource("Location", ["read", "search-type"], DirectoryQueries.LocationParams, "Directory (IHE mCSD, read-only): search over the establishments (same id as their Organization; position from the FINESS geolocation, Lambert-93 or UTM converted to WGS 84); near=lat|lon|distance|km, nearest first, with the distance in the entry's search. Read also gives a professional's activity site (same id as its PractitionerRole)"));
        rest.Resource.Add(Resource("Observation", ["search-type", "create"], ObservationQueries.SearchParamNames, "Structured results (e.g. LOINC-coded values, UCUM units, reference range, interpretation, performer, effective = specimen date). Written alone (create: professions whose matrix admits biology reports) or with their report (class 10) in an ITI-65 transaction, derivedFrom the report and seen with it. Curves convert units of the same kind (UCUM: g/L and mg/dL, 10*9/L and 10*3/uL). The results of a structured CI-SIS lab report (CR-BIO) are read from it when it is filed (derivedFrom its DocumentReference) and are seen, masked and erased with it"));
        rest.Resource.Add(Resource("MedicationRequest", ["read", "search-type"], MedicationQueries.RequestParams, "Prescription lines (ANS e-prescription FrMedicationRequest shape), filed with their prescription document through ITI-65 and seen with it. groupIdentifier = the prescription identifier (assigned when absent, system urn:opendmp:prescription); a search by group-identifier must name the patient too (the identifier is not an access key). dispenseRequest.quantity (per dispensing), numberOfRepeatsAllowed and validityPeriod are enforced on dispensing. The extension urn:opendmp:extension:dispensing gives the execution (state, prescriptionState, dispensedQuantity, renewalsRemaining, lastDispensed) to readers who may see the dispensing"));
        rest.Resource[^1].Operation.Add(Op("qr-code", "GET MedicationRequest/[id]/$qr-code: the prescription identifier as a QR code (SVG) for the paper copy"));
        rest.Resource.Add(Resource("MedicationDispense", ["read", "search-type"], MedicationQueries.DispenseParams, "Dispensings, filed by the pharmacist with the dispensing document (class 43, type 60593-1) through ITI-65; authorizingPrescription names the prescription line. Hidden from the prescriber when the patient opposes it"));
        rest.Resource.Add(Resource("MedicationStatement", ["read", "search-type"], MedicationQueries.StatementParams, "search: the medication list, derived when asked: each medication once (prescription lines and the dispensings executing them, the same medication across prescriptions, treatments listed by discharge letters, pharmacy reimbursements), derivedFrom its sources, the kinds of source as extensions urn:opendmp:extension:medication-source. read: a treatment a letter listed (filed with the letter, class 10)"));
        rest.Resource.Add(Resource("Encounter", ["read", "search-type"], ClinicalQueries.SearchParamNames, "Hospital stays (class, period, establishment, ranked diagnoses: rank 1 = main diagnosis), filed with their letter (class 10, e.g. 11490-0) through ITI-65 and seen with it"));
        rest.Resource.Add(Resource("Condition", ["read", "search-type"], ClinicalQueries.SearchParamNames, "Diagnoses (CIM-10 / ICD-10), linked to their stay (encounter) and letter"));
        rest.Resource.Add(Resource("Procedure", ["read", "search-type"], ClinicalQueries.SearchParamNames, "Acts (CCAM), linked to their stay and letter"));
        rest.Resource.Add(Resource("Immunization", ["read", "search-type"], ClinicalQueries.SearchParamNames, "Vaccinations, filed with a vaccination note (87273-9), a report or a summary"));
        rest.Resource.Add(Resource("AllergyIntolerance", ["read", "search-type"], ClinicalQueries.SearchParamNames, "Allergies a professional recorded, filed with a report or a summary (class 10 or 11) and seen with it; the patient's own declarations appear in $summary marked unconfirmed, asserted by the patient"));
        rest.Resource.Add(Resource("ExplanationOfBenefit", ["read", "search-type"], ClinicalQueries.SearchParamNames, "The reimbursement history (twelve months of reimbursed care: date, care type, professional), imported from the insurer's ExplanationOfBenefit resources with its history document (class 60, type REMB) and seen with it; pharmacy items are a source of the medication list"));
        rest.Resource.Add(Resource("AuditEvent", ["search-type"], OpenDmp.Core.Audit.AuditQueries.SearchParamNames, "The record's audit trail (IHE BALP shape), newest first: the patient sees every access (except those about documents not yet released to them), the treating physician every access, other professionals with a grant their own"));
        var terms = terminology ?? OpenDmp.Core.Terminologies.TerminologySet.Shipped;
        var inForce = string.Join(", ", terms.ValueSets.Select(v => v.Url).Distinct(StringComparer.Ordinal).Select(u => terms.ValueSet(u)!).OrderBy(v => v.Name, StringComparer.Ordinal).Select(v => $"{v.Name} {v.Version}"));
        rest.Resource.Add(Resource("ValueSet", ["read", "vread", "search-type"], new HashSet<string> { "url", "version", "name", "_id" }, $"Public. The ANS value sets (JDV) in force and their earlier versions (vread by version, search by url). In force: {inForce}"));
        rest.Resource[^1].Operation.Add(new OperationComponent { Name = "expand", Definition = "http://hl7.org/fhir/OperationDefinition/ValueSet-expand", Documentation = "url or [id]; filter (code and display, case- and accent-insensitive), activeOnly, count (≤ 1000), offset, valueSetVersion" });
        rest.Resource[^1].Operation.Add(new OperationComponent { Name = "validate-code", Definition = "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code", Documentation = "url or [id]; system (URL or OID), code, display: whether a new document may use the code (retired codes: false, with the date)" });
        rest.Resource.Add(Resource("CodeSystem", ["read", "vread", "search-type"], new HashSet<string> { "url", "version", "name", "_id" }, "Public. The ANS code systems (TRE) in force and their earlier versions"));
        rest.Resource[^1].Operation.Add(new OperationComponent { Name = "lookup", Definition = "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup", Documentation = "system (URL or OID), code, version: display, designations, inactive, dateFin" });
        cs.Rest.Add(rest);
        return cs;
    }

    private static OperationComponent Op(string name, string documentation) =>
        new() { Name = name, Definition = "urn:opendmp:operation:" + name, Documentation = documentation };

    private static ResourceComponent Resource(string type, string[] interactions, IReadOnlySet<string> searchParams, string documentation)
    {
        var r = new ResourceComponent { Type = type, Documentation = documentation, Versioning = ResourceVersionPolicy.Versioned, ReadHistory = false, ConditionalCreate = false };
        foreach (var i in interactions)
        {
            r.Interaction.Add(new ResourceInteractionComponent
            {
                Code = i switch
                {
                    "read" => TypeRestfulInteraction.Read,
                    "vread" => TypeRestfulInteraction.Vread,
                    "search-type" => TypeRestfulInteraction.SearchType,
                    "patch" => TypeRestfulInteraction.Patch,
                    "delete" => TypeRestfulInteraction.Delete,
                    "create" => TypeRestfulInteraction.Create,
                    _ => throw new ArgumentOutOfRangeException(nameof(interactions)),
                },
            });
        }

        foreach (var p in searchParams.Where(p => !p.StartsWith('_') || p is "_id").Order(StringComparer.Ordinal))
        {
            r.SearchParam.Add(new CapabilityStatement.SearchParamComponent { Name = p, Type = p switch { "date" or "period" or "period-start" or "period-end" or "birthdate" => SearchParamType.Date, "patient" or "subject" or "author" or "related" or "relatesto" => SearchParamType.Reference, "family" or "given" or "name" => SearchParamType.String, _ => SearchParamType.Token } });
        }

        return r;
    }
}
