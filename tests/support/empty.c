/* Keeps the test-support library non-empty before any helper exists. */
typedef int plm_test_support_empty;
