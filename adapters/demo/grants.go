package demo

import "github.com/crossledger/crossledger/schema"

// Purposes of the Haidian scenario: the business purposes analysts
// declare, and that the demo grants name.
const (
	PurposeRealEstateTransfer = "real-estate-transfer"
	PurposeTaxAssessment      = "tax-assessment"
	PurposeHouseholdService   = "household-service"
)

// Purposes lists the demo purposes.
func Purposes() []string {
	return []string{PurposeHouseholdService, PurposeRealEstateTransfer, PurposeTaxAssessment}
}

// Grants returns the grants each owning department publishes before its
// data in the Haidian scenario, in order. They are deterministic so that a
// restarted simulator knows how many of a department's first seqs are
// grants.
//
// The property-transfer case: the real-estate office, handling a sale,
// may see the seller's marriage status and spouse id (not the spouses'
// names, nor earlier marriages' details beyond status), their household
// registration, their business tax-credit rating and electricity arrears —
// and only for records about the citizen the query names.
func Grants() map[string][]schema.Grant {
	subject := "subject"
	return map[string][]schema.Grant{
		CivilAffairs: {
			{Consumer: RealEstate, Purpose: PurposeRealEstateTransfer, Type: "marriage",
				Fields: []string{"dissolved_on", "marriage_id", "spouse_a_id", "spouse_b_id", "status"}, Condition: subject},
			{Consumer: PublicSecurity, Purpose: PurposeHouseholdService, Type: "marriage",
				Fields: []string{"marriage_id", "registered_on", "spouse_a_id", "spouse_a_name", "spouse_b_id", "spouse_b_name", "status"}},
		},
		PublicSecurity: {
			{Consumer: RealEstate, Purpose: PurposeRealEstateTransfer, Type: "resident",
				Fields: []string{"citizen_id", "household_head_id", "household_id", "name"}, Condition: subject},
		},
		Tax: {
			{Consumer: RealEstate, Purpose: PurposeRealEstateTransfer, Type: "tax-credit",
				Fields: []string{"rating", "taxpayer_id", "year"}, Condition: subject},
		},
		Electricity: {
			{Consumer: RealEstate, Purpose: PurposeRealEstateTransfer, Type: "account",
				Fields: []string{"account_no", "arrears"}, Condition: subject},
		},
		MarketRegulation: {
			{Consumer: Tax, Purpose: PurposeTaxAssessment, Type: "business-licence",
				Fields: []string{"credit_code", "legal_rep_id", "name", "registered_capital", "status"}},
		},
		RealEstate: {
			{Consumer: Tax, Purpose: PurposeTaxAssessment, Type: "property-title",
				Fields: []string{"area_sqm", "owner_id", "title_no", "usage"}},
		},
	}
}
