DROP TABLE org_members;
DROP TABLE departments;
DROP TABLE campuses;
DROP TABLE institutions;
